"""fincredit.models."""
