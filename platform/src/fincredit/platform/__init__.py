"""fincredit.platform."""
