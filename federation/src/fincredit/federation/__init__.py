"""fincredit.federation."""
