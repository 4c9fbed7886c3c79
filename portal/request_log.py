"""Each request gets an id, and one log line saying what it was and how it went.

The id is the incoming `X-Request-Id` when the proxy (or the client) sent a sane one, else a new
one; the response echoes it and every log record written meanwhile carries it (see
`portal.structured_logs`), mail sent after the response included.

The line gives the method, the path, the status, the time taken and the client's address. It
never holds a query string (search terms, a `next=` address) nor a signed token: the token of
a PAY NOW, password reset or invitation link is part of its path, and is written `:token`.
This is plain WSGI, outside Flask, so it also sees the requests Flask answers with an error.
"""

import logging
import time
from collections.abc import Iterable

from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError, Map
from werkzeug.wsgi import ClosingIterator

from portal.structured_logs import accepted_request_id, current_request_id, new_request_id

log = logging.getLogger(__name__)

#: Route arguments that are credentials (the signed links' tokens): never written to a log.
SECRET_ROUTE_ARGUMENTS = frozenset({"token"})

# A path that matches no route may still hold a token (a link cut short, a mistyped route):
# any segment this long is left out. Signed tokens are longer; ids and invoice numbers shorter.
LONGEST_SEGMENT_SHOWN = 24


class RequestLog:
    """WSGI middleware around the app: request id in, request id out, one line per request."""

    def __init__(self, wsgi_app, url_map: Map):
        self.wsgi_app = wsgi_app
        self.url_map = url_map

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        request_id = accepted_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        current_request_id.set(request_id)
        started = time.perf_counter()
        answered: list[int] = []

        def start_response_with_id(status: str, headers: list, exc_info=None):
            # Called again (with exc_info) when an error replaces a response begun: the last status is the one sent.
            answered[:] = [int(status.split(" ", 1)[0])]
            headers.append(("X-Request-Id", request_id))
            return start_response(status, headers, exc_info)

        try:
            body = self.wsgi_app(environ, start_response_with_id)
        except BaseException:
            self._log_request(environ, 500, started)
            _forget_request_id()
            raise
        self._log_request(environ, answered[0] if answered else 500, started)
        # The id stays set until the server closes the response: what runs then (mail sent
        # after the response) still logs under it.
        return ClosingIterator(body, _forget_request_id)

    def _log_request(self, environ, status: int, started: float) -> None:
        method = environ.get("REQUEST_METHOD", "")
        path = loggable_path(self.url_map, environ)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        log.info("%s %s %s %.1f ms", method, path, status, duration_ms,
                 extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms,
                        "remote_addr": environ.get("REMOTE_ADDR")})


def _forget_request_id() -> None:
    current_request_id.set(None)


def loggable_path(url_map: Map, environ) -> str:
    """The request's path as it may be logged: without its query string, a token as `:token`."""
    adapter = url_map.bind_to_environ(environ)
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        rule, arguments = adapter.match(return_rule=True)
    except HTTPException:
        return _without_long_segments(path)
    secret = SECRET_ROUTE_ARGUMENTS & rule.arguments
    if not secret:
        return path
    try:
        return adapter.build(rule.endpoint, {**arguments, **{name: f":{name}" for name in secret}},
                             method=environ.get("REQUEST_METHOD"), append_unknown=False)
    except BuildError:
        return _without_long_segments(path)


def _without_long_segments(path: str) -> str:
    return "/".join(":redacted" if len(segment) > LONGEST_SEGMENT_SHOWN else segment for segment in path.split("/"))
