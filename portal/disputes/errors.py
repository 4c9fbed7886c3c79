"""The disputes domain's errors. Each has a stable `code` (see portal/domain_errors.py)."""

from portal.domain_errors import DomainError


class DisputeError(DomainError):
    """Base of the disputes domain's errors."""

    code = "dispute_error"


class DisputeNotFound(DisputeError):
    """No such dispute or attachment for this company (never says whether it exists for another)."""

    code = "not_found"


class NotAllowed(DisputeError):
    """The user's role does not allow this (a viewer raising a dispute, a clerk resolving one)."""

    code = "not_allowed"


class InvalidDispute(DisputeError, ValueError):
    """What was entered cannot make a dispute or message: an amount beyond what is due, no message..."""

    code = "invalid"


class DisputeConflict(DisputeError):
    """The state of the invoice or dispute forbids the step: already disputed, closed, paid, being paid."""

    code = "conflict"


class AttachmentRefused(InvalidDispute):
    """An uploaded file that is not kept: too large, empty, or not a PDF, PNG or JPEG by its content."""

    code = "attachment_refused"
