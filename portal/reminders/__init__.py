"""Chasing what customers owe: notices before the due date, reminders after it ("relances")."""
