"""Invoices, credit notes, amounts due and statuses. No Flask in here."""
