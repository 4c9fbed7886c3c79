"""The base of every domain package's errors (billing, payments, guest, disputes, autopay).

An error carries a stable `code`, the key of `portal.errors.ERRORS`, which says the HTTP
status and the message in the reader's language; `params` fill that message's placeholders
(a `Money` is written in the page's locale) and `field` names the input at fault. The
exception's own text is English, for logs and tests, and is never shown to a user.
"""


class DomainError(Exception):
    code = "refused"

    def __init__(self, message: str = "", code: str | None = None, field: str | None = None, **params):
        super().__init__(message)
        if code:
            self.code = code
        self.field = field
        self.params = params
