"""The portal's log output: one JSON object per line in production, readable text for the demo.

Every record written while a request is served carries that request's id (`request_id`), so
an operator finds all a request did from the id a customer or the load balancer reports. The
id lives in a context variable that `portal.request_log` sets for the request's duration.

`ACQUIT_LOG_FORMAT` chooses: `json` (the default: what journald, a container runtime or a log
shipper reads) or `text` (`acquit demo` defaults to it, for a person reading a terminal).
"""

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from portal.config_errors import ConfigurationError

LOG_FORMATS = ("json", "text")

#: The id of the request being served by this thread (None outside a request).
current_request_id: ContextVar[str | None] = ContextVar("acquit_request_id", default=None)

# A proxy's or a client's X-Request-Id is kept only when it is a plain token: it is written into
# every log line and echoed in a header, so it must not carry newlines, quotes or a novel.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

# What a LogRecord holds of its own; anything else on a record came from `extra=` and is written out.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def accepted_request_id(offered: str | None) -> str | None:
    """`offered` (an incoming X-Request-Id) if it is a sane token, else None."""
    if offered and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, request_id,
    then whatever the call passed in `extra=` (the request line's method, path, status…)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update((name, value) for name, value in vars(record).items()
                     if name not in _RECORD_ATTRIBUTES and name not in entry)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger: message`, as a person reads it in a terminal; `logger [request id]:` during a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        source = f"{record.name} [{request_id}]" if request_id else record.name
        return f"{record.asctime} {record.levelname} {source}: {record.message}"


def formatter_for(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ConfigurationError(f"ACQUIT_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


class _ProcessStandardError(logging.StreamHandler):
    """The process's own standard error (file descriptor 2), not whatever `sys.stderr` is swapped
    for: a command's printed answer, captured on its own, stays free of log lines."""

    def __init__(self) -> None:
        super().__init__(sys.__stderr__)


def configure_logging(log_format: str) -> None:
    """Send every logger's records at INFO and above to stderr in `log_format`, with the request id.

    Called by each app the process builds: it replaces the handler an earlier call installed
    rather than adding a second, and leaves any other handler (a test runner's) alone.
    """
    formatter = formatter_for(log_format)
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if isinstance(handler, _ProcessStandardError)]:
        root.removeHandler(handler)
    handler = _ProcessStandardError()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Chatter an operator never acts on: font subsetting for PDFs, Alembic listing its plugins at each start.
    for chatty in ("fontTools", "alembic.runtime.plugins"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
