"""Payments: the provider seam and the ledger of money received. The only place `stripe` is imported."""
