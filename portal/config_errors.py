"""The error every check of a setting raises, so that a process started with a wrong setting
stops with one line naming it (`acquit`, `wsgi.py`), not a traceback."""


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it and says what it should be."""
