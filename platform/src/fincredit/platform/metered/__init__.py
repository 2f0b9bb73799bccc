"""Market-oriented services (G§14): priced, metered per use, quota'd and invoiced. Every capability in
this folder bills through ``metered.billing`` in the transaction that does the work; the free
public-interest services (``fincredit.platform.free``, G§11) never import anything from here."""
