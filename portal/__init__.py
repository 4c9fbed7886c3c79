"""Acquit: a self-service customer payment portal for B2B suppliers."""
