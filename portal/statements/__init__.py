"""Statements of account: what a company owed at the start of a period, what happened in it, what it owes at the end."""
