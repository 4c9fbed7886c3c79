"""Periodic jobs in one long-lived process: `schedule` runs them, `worker` wires Acquit's own."""
