"""Domain exceptions of fincredit.models."""

from __future__ import annotations

__all__ = [
    "CatalogSpecError",
    "DatasetNotInstalledError",
    "FeatureError",
    "ModelNotFoundError",
    "ModelsError",
    "SyntheticDataError",
]


class ModelsError(Exception):
    """Base class for fincredit.models errors."""


class CatalogSpecError(ModelsError, ValueError):
    """A catalog file that cannot be read or does not describe a valid catalog."""


class SyntheticDataError(ModelsError, ValueError):
    """Bad parameters for the synthetic city generator."""


class FeatureError(ModelsError, ValueError):
    """Inputs that cannot be turned into features."""


class DatasetNotInstalledError(ModelsError, FileNotFoundError):
    """A benchmark dataset package is not installed."""


class ModelNotFoundError(ModelsError, LookupError):
    """No registered model (or no version under the requested alias) in the registry."""
