"""The collections team's view across customers: figures, lists and searches (no Flask in here)."""
