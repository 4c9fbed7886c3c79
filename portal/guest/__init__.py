"""Guest pay: the PAY NOW link e-mailed with an invoice, safe to leak. No Flask in here."""
