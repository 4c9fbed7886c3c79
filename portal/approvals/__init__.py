"""Approval rule: above a company's threshold, a payment waits for a second clerk before it is charged."""
