class ReminderError(Exception):
    """Base of the reminder errors; its message is for the staff member who caused it."""


class InvalidSchedule(ReminderError):
    """A reminder schedule that cannot be used; `code` says why, for the page to say it in its language:
    "empty", "not_numbers", "too_many", "out_of_range", "repeated", "notice_out_of_range"."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
