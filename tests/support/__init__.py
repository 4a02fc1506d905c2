"""Test and benchmark helpers, not shipped in the wheel: real local storage servers (Range HTTP,
S3, Azure Blob, GCS), a loopback DANDI archive, and a Zarr materializer."""
