"""The DANDI REST client lives in the sources layer (:mod:`intake_nwb.sources.dandiapi`), below
the ``dandi://`` filesystem that uses it; its names stay importable from here."""

from ..sources.dandiapi import DandiClient
from ..sources.dandiurl import DANDI_API_URL

__all__ = ["DANDI_API_URL", "DandiClient"]
