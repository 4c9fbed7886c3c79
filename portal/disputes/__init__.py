"""Disputes: a customer contests (part of) an invoice, the thread that follows, and its resolution."""
