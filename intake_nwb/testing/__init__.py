"""Test and benchmark helpers: real local storage servers (Range HTTP, S3, Azure Blob, GCS)."""
