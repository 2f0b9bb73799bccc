"""fincredit.consent."""
