class AutopayError(Exception):
    """An autopay request refused; `code` is stable, the message is safe to show a clerk."""

    code = "autopay_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class AutopayNotAllowed(AutopayError):
    code = "autopay_not_allowed"
