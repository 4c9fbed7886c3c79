class ApprovalError(Exception):
    """An approval action refused; `code` is stable (pages translate it), the message is for logs and the API."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code
