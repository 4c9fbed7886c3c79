class AccountError(Exception):
    """Base of the accounts domain's errors."""


class InvalidCredentials(AccountError):
    """Wrong e-mail or password; deliberately never says which."""


class TooManyAttempts(AccountError):
    """Too many failed sign-ins for this e-mail or address; try again later."""


class InvalidResetToken(AccountError):
    """A password-reset link that is tampered with, expired or already used."""


class WeakPassword(AccountError, ValueError):
    """A new password that does not meet the rules."""
