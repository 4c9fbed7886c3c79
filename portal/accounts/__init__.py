"""Users, sign-in, password resets. No Flask in here."""
