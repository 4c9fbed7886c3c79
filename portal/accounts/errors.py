from datetime import timedelta


class AccountError(Exception):
    """Base of the accounts domain's errors."""


class InvalidCredentials(AccountError):
    """Wrong e-mail or password; deliberately never says which."""


class TooManyAttempts(AccountError):
    """Too many recent failed sign-ins for this e-mail or address: try again after `retry_after`."""

    def __init__(self, retry_after: timedelta):
        super().__init__(f"try again in {retry_after}")
        self.retry_after = retry_after


class InvalidResetToken(AccountError):
    """A password-reset or invitation link that cannot be used; `reason` says why, for the page to say."""

    INVALID = "invalid"  # tampered with, truncated, or for someone unknown
    EXPIRED = "expired"
    USED = "used"  # already used, or replaced by a newer link
    WITHDRAWN = "withdrawn"  # the account was disabled

    def __init__(self, reason: str = INVALID):
        super().__init__(reason)
        self.reason = reason


class WeakPassword(AccountError, ValueError):
    """A new password that does not meet the rules."""


class LastActiveStaff(AccountError):
    """Disabling this staff member would leave nobody able to sign in to the staff pages."""


class NotStaff(AccountError):
    """The account is a customer's, not the supplier's staff."""
