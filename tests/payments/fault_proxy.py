"""An HTTP proxy between the stripe library and localstripe that fails on purpose.

How to give the stripe client a short timeout: in stripe 16.1.0 `StripeClient` takes no
`timeout` argument and `RequestOptions` has no per-request one; the timeout belongs to the
HTTP client, so pass your own: `stripe.StripeClient(key, http_client=stripe.RequestsClient(timeout=5),
max_network_retries=0)`. `timeout` goes to `requests` as is, so a number bounds both the
connect and each read (a `(connect, read)` tuple sets them apart). Without `http_client`
the library builds a `RequestsClient` (its default whenever `requests` is installed) with a
timeout of **80 s**. `stripe.HTTPXClient(timeout=...)` exists too but needs `httpx`, which
is not installed here. Passing `http_client` together with `proxy=` or
`verify_ssl_certs=` raises ValueError: set those on the HTTP client instead.

A real provider can fail *after* it has done what was asked: the charge is made, then the
answer is lost to a 5xx from a load balancer, a reset connection or a timeout. Tests use
this proxy to make that happen and prove the portal never charges or refunds twice:

    with FaultProxy.start(localstripe.server.api_base) as proxy:
        client = stripe.StripeClient(TEST_SECRET_KEY, base_addresses={"api": proxy.url},
                                     http_client=stripe.RequestsClient(timeout=1),
                                     max_network_retries=0)
        proxy.fail_next(Fault.FORWARD_THEN_500)                    # next POST /v1/payment_intents
        proxy.fail_next(Fault.FORWARD_THEN_DROP, path=r"^/v1/refunds$", times=2)
        ...
        proxy.requests       # [ProxiedRequest(method, path, fault, forwarded, upstream_status, ...)]

What the stripe library raises for each fault (stripe 16.1.0, `max_network_retries=0`,
`RequestsClient(timeout=1)`; verified by tests/payments/test_fault_proxy.py):

| fault | reached the provider | stripe raises | `http_status` |
| --- | --- | --- | --- |
| FORWARD_THEN_500 (Stripe's JSON `api_error`) | yes | `stripe.APIError` | 500 |
| FORWARD_THEN_502 (a gateway's HTML page) | yes | `stripe.APIError` ("Invalid response body from API") | 502 |
| FORWARD_THEN_503 (a gateway's plain text) | yes | `stripe.APIError` ("Invalid response body from API") | 503 |
| FORWARD_THEN_DROP | yes | `stripe.APIConnectionError` (`should_retry` True; requests' RemoteDisconnected) | None |
| FORWARD_THEN_TIMEOUT | yes | `stripe.APIConnectionError` (`should_retry` True; requests' ReadTimeout) | None |
| FORWARD_THEN_429 | yes | `stripe.RateLimitError` (`.error.code` "rate_limit") | 429 |
| REJECT_429 | no | `stripe.RateLimitError` (`.error.code` "rate_limit") | 429 |
| DROP_BEFORE_FORWARD | no | `stripe.APIConnectionError` (`should_retry` True; requests' RemoteDisconnected) | None |

So no exception says whether the provider acted: a 429 or a dropped connection comes the
same way whether or not the request got through, and a 5xx may follow a charge made.
`RateLimitError` is not an `APIError` (both derive from `stripe.StripeError`), and its
`.code` is None: the library does not pass the body's code on, so read `.error.code`.
With `max_network_retries` above 0 the library itself retries 5xx answers and connection
errors with the same Idempotency-Key (a 500 retried this way was verified), which real
Stripe deduplicates and localstripe does not: it charges again.

The proxy serves one request per connection (HTTP/1.0, `Connection: close`), so no idle
keep-alive connection outlives `stop()`, and a dropped connection never takes a later
request down with it. Request bodies are read by Content-Length, as the stripe library
sends them.
"""

from __future__ import annotations

import enum
import http.client
import json
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOST = "127.0.0.1"
# A held connection (FORWARD_THEN_TIMEOUT) is let go after this long even if no one stops
# the proxy, so a forgotten proxy cannot keep a thread waiting for the rest of the session.
HOLD_LIMIT_SECONDS = 30.0
UPSTREAM_TIMEOUT_SECONDS = 30.0

# Headers that belong to one connection (RFC 9110 section 7.6.1), never relayed; Host and
# Content-Length are set anew for the connection each message goes out on (http.client
# sets them for the request it forwards).
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
})
# The proxy's answer carries its own Date and Server (send_response adds them).
_NOT_RELAYED = _HOP_BY_HOP | {"date", "server"}

# The bodies Stripe sends (https://docs.stripe.com/error-codes, rate limits).
_STRIPE_API_ERROR = {"error": {"type": "api_error", "message": (
    "An unknown error occurred. The request may or may not have been processed.")}}
_STRIPE_RATE_LIMIT = {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": (
    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.")}}
# What load balancers in front of an API answer themselves: nginx's page, Envoy's text.
_NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
              b"</body>\r\n</html>\r\n")
_ENVOY_503 = b"upstream connect error or disconnect/reset before headers. reset reason: connection termination"


class Fault(enum.Enum):
    """How the next matching request fails."""

    FORWARD_THEN_500 = "forward, then answer 500 with Stripe's api_error JSON"
    FORWARD_THEN_502 = "forward, then answer 502 with a gateway's HTML page"
    FORWARD_THEN_503 = "forward, then answer 503 with a gateway's plain text"
    FORWARD_THEN_DROP = "forward, then close the connection without an answer"
    FORWARD_THEN_TIMEOUT = "forward, then say nothing until the client gives up"
    FORWARD_THEN_429 = "forward, then answer 429 rate_limit"
    REJECT_429 = "answer 429 rate_limit without forwarding"
    DROP_BEFORE_FORWARD = "close the connection without forwarding"

    @property
    def forwards(self) -> bool:
        """Whether the provider gets the request (and so may act on it) before the fault."""
        return self not in (Fault.REJECT_429, Fault.DROP_BEFORE_FORWARD)


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received, and what it did with it.

    `forwarded` means the provider received it and answered `upstream_status` (which the
    client may never have seen, when `fault` replaced it).
    """

    method: str
    path: str
    # The query string's parameters, each with its first value.
    query: dict[str, str]
    fault: Fault | None
    forwarded: bool
    upstream_status: int | None
    idempotency_key: str | None


@dataclass
class _PlannedFault:
    fault: Fault
    method: str | None
    path: re.Pattern
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.path.search(path) is not None


class FaultProxy:
    """A proxy on 127.0.0.1 forwarding to `upstream`, failing the requests it is told to."""

    def __init__(self, upstream: str, port: int = 0):
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"upstream must be an http origin such as http://127.0.0.1:8420, not {upstream!r}")
        self.upstream = upstream
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self._lock = threading.Lock()
        self._plan: list[_PlannedFault] = []
        self._requests: list[ProxiedRequest] = []
        self._stopping = threading.Event()
        self._server = _ProxyServer((HOST, port), _ProxyHandler, proxy=self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                         name="fault-proxy", daemon=True)

    @classmethod
    def start(cls, upstream: str, port: int = 0) -> FaultProxy:
        """Listen on `port` of 127.0.0.1 (0: a free one) and forward to `upstream` ("http://host:port").

        A proxy stopped and started again on its old port is a provider that was unreachable
        (connections refused) and is back where its clients look for it.
        """
        proxy = cls(upstream, port)
        proxy._thread.start()
        return proxy

    @property
    def url(self) -> str:
        """The proxy's origin, for `base_addresses={"api": proxy.url}`."""
        return f"http://{HOST}:{self._server.server_address[1]}"

    def fail_next(self, fault: Fault, *, method: str | None = "POST", path: str = r"^/v1/payment_intents$",
                  times: int = 1) -> None:
        """Fail the next `times` requests of `method` (None: any) whose path matches the regex `path`.

        `path` is searched in the path without its query string. Plans are tried in the
        order they were made; a request no plan matches passes through untouched.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        planned = _PlannedFault(fault, method.upper() if method else None, re.compile(path), times)
        with self._lock:
            self._plan.append(planned)

    def clear(self) -> None:
        """Forget every planned fault not yet used; from now on every request passes through."""
        with self._lock:
            self._plan.clear()

    @property
    def requests(self) -> list[ProxiedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def stop(self) -> None:
        """Stop listening and let go of held connections at once; calling it again does nothing."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for planned in self._plan:
                if planned.matches(method, path):
                    planned.remaining -= 1
                    if planned.remaining == 0:
                        self._plan.remove(planned)
                    return planned.fault
        return None

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(request)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, *, proxy: FaultProxy):
        self.proxy = proxy
        super().__init__(address, handler)


@dataclass(frozen=True)
class _UpstreamAnswer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


class _ProxyHandler(BaseHTTPRequestHandler):
    server: _ProxyServer

    def _proxy_request(self) -> None:
        proxy = self.server.proxy
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = proxy._take_fault(self.command, path)

        upstream = None
        if fault is None or fault.forwards:
            upstream = self._forward(body)
        # Recorded before the client hears anything, so a test that has seen the
        # client's outcome always finds the request here.
        proxy._record(ProxiedRequest(
            method=self.command, path=path, query={name: values[0] for name, values in parse_qs(query).items()},
            fault=fault, forwarded=upstream is not None,
            upstream_status=upstream.status if upstream else None,
            idempotency_key=self.headers.get("Idempotency-Key"),
        ))

        match fault:
            case None if upstream is None:
                self._answer(502, "text/plain", f"fault proxy: {proxy.upstream} did not answer".encode())
            case None:
                self._relay(upstream)
            case Fault.FORWARD_THEN_500:
                self._answer(500, "application/json", json.dumps(_STRIPE_API_ERROR).encode())
            case Fault.FORWARD_THEN_502:
                self._answer(502, "text/html", _NGINX_502)
            case Fault.FORWARD_THEN_503:
                self._answer(503, "text/plain", _ENVOY_503)
            case Fault.FORWARD_THEN_429 | Fault.REJECT_429:
                self._answer(429, "application/json", json.dumps(_STRIPE_RATE_LIMIT).encode())
            case Fault.FORWARD_THEN_TIMEOUT:
                proxy._stopping.wait(HOLD_LIMIT_SECONDS)
                self._hang_up()
            case Fault.FORWARD_THEN_DROP | Fault.DROP_BEFORE_FORWARD:
                self._hang_up()

    do_GET = do_POST = do_DELETE = _proxy_request

    def _forward(self, body: bytes) -> _UpstreamAnswer | None:
        """Send this request on to the provider; None if it could not be reached."""
        proxy = self.server.proxy
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
        connection = http.client.HTTPConnection(proxy._upstream_host, proxy._upstream_port,
                                                timeout=UPSTREAM_TIMEOUT_SECONDS)
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            return _UpstreamAnswer(response.status, response.reason, response.getheaders(), response.read())
        except OSError:
            return None
        finally:
            connection.close()

    def _relay(self, upstream: _UpstreamAnswer) -> None:
        self.send_response(upstream.status, upstream.reason)
        for name, value in upstream.headers:
            if name.lower() not in _NOT_RELAYED:
                self.send_header(name, value)
        self._finish_answer(upstream.body)

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self._finish_answer(body)

    def _finish_answer(self, body: bytes) -> None:
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _hang_up(self) -> None:
        # shutdown() rather than close(): the server still holds the socket, and only a
        # shutdown sends the FIN at once, so the client sees the drop instead of waiting.
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # the client already gave up and closed its end

    def log_message(self, format, *args) -> None:
        """Quiet: tests assert on `FaultProxy.requests`, not on a log."""
