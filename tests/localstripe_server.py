"""Run localstripe (a stateful fake Stripe server) on 127.0.0.1 in a child process.

localstripe is GPL and runs its own asyncio loop, so it never enters our process: the
parent only spawns `python -m tests.localstripe_server` and talks to it over HTTP.

    with LocalStripe.start() as stripe_server:
        stripe_server.api_base              # "http://127.0.0.1:PORT" for StripeClient
        stripe_server.reset()               # DELETE /_config/data: forget every object
        stripe_server.register_webhook(url, secret)
        stripe_server.payment_intents()     # what reached "Stripe", to assert on
        stripe_server.charges()

The same entry serves `acquit demo` (or a developer) in the foreground:

    python -m tests.localstripe_server --port 8420

It prints `localstripe listening on http://127.0.0.1:PORT` once it is bound (`--port 0`
picks a free port). Unlike localstripe's own launcher it listens on loopback only, and
it neither loads nor writes /tmp/localstripe.pickle, which every localstripe process
shares and which parallel test workers would otherwise overwrite.

docs/payments-localstripe.md records what localstripe does and does not imitate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"
# localstripe accepts any secret key that starts with "sk_" and is longer than 5 characters.
TEST_SECRET_KEY = "sk_test_acquit_localstripe"
# Its fake Stripe.js accepts any publishable key; it sends it as `key` in POST bodies.
TEST_PUBLISHABLE_KEY = "pk_test_acquit_localstripe"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_READY_PREFIX = "localstripe listening on "


class LocalStripeError(RuntimeError):
    """localstripe did not start, or answered a config call with an error."""


class LocalStripe:
    """A localstripe child process on 127.0.0.1, and the calls tests make to it."""

    def __init__(self, process: subprocess.Popen, api_base: str):
        self.process = process
        self.api_base = api_base

    @classmethod
    def start(cls, port: int = 0, *, timeout: float = 20.0) -> LocalStripe:
        """Spawn localstripe on `port` (0: a free one) and return once it answers HTTP."""
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.localstripe_server", "--port", str(port)],
            cwd=_REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            api_base = _read_api_base(process, timeout)
            server = cls(process, api_base)
            server._wait_until_answering(timeout)
        except BaseException:
            process.kill()
            process.wait()
            raise
        # The child logs each request; drain its pipe so a full buffer never blocks it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        return server

    def stop(self) -> None:
        """Terminate the child and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalStripe:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def stripe_js_url(self) -> str:
        """The fake Stripe.js; it derives the API base from this very URL, so keep the path."""
        return f"{self.api_base}/js.stripe.com/v3/"

    def reset(self) -> None:
        """Forget every object (customers, intents, charges...). Webhooks stay registered."""
        self._request("DELETE", "/_config/data")

    def register_webhook(self, url: str, secret: str, *, name: str = "acquit",
                         events: list[str] | None = None) -> None:
        """Have localstripe POST signed events to `url`; registering `name` again replaces it.

        localstripe has no call to unregister: point `name` elsewhere instead.
        """
        fields = [("url", url), ("secret", secret)]
        fields += [("events[]", event) for event in events or []]
        self._request("POST", f"/_config/webhooks/{name}", form=fields)

    def payment_intents(self, *, customer: str | None = None) -> list[dict]:
        """Every PaymentIntent, oldest first (localstripe cannot filter them server-side)."""
        intents = self._list("/v1/payment_intents")
        return [pi for pi in intents if customer is None or pi["customer"] == customer]

    def charges(self, *, customer: str | None = None, payment_intent: str | None = None) -> list[dict]:
        """Every charge, oldest first; a declined attempt is a charge with status "failed"."""
        params = {"customer": customer} if customer else {}
        charges = self._list("/v1/charges", params)
        return [ch for ch in charges if payment_intent is None or ch["payment_intent"] == payment_intent]

    def succeeded_charges(self, **filters) -> list[dict]:
        """Charges that moved money: the ones to count when proving "exactly one charge"."""
        return [ch for ch in self.charges(**filters) if ch["status"] == "succeeded"]

    def refunds(self, *, payment_intent: str | None = None) -> list[dict]:
        """Every refund (newest first when filtered by payment_intent, as localstripe sorts)."""
        params = {"payment_intent": payment_intent} if payment_intent else {}
        return self._list("/v1/refunds", params)

    def authenticate_payment_intent(self, payment_intent: dict, *, success: bool = True) -> dict:
        """Pass (or fail) 3-D Secure without a browser.

        This is the private call localstripe's Stripe.js makes when the buyer clicks
        "Complete authentication" / "Fail authentication"; real Stripe has no equivalent,
        so only tests use it. `payment_intent` must be in status requires_action.
        """
        path = f"/v1/payment_intents/{payment_intent['id']}/_authenticate"
        query = urllib.parse.urlencode({"success": "true" if success else "false"})
        return self._request("POST", f"{path}?{query}",
                             form=[("client_secret", payment_intent["client_secret"])])

    def confirm_card_setup(self, setup_id: str, number: str) -> str:
        """What Stripe.js's `confirmCardSetup` does with a card typed in; returns the PaymentMethod id.

        `acquit demo` saves its autopay company's card this way, with no browser. A card that
        asks for 3-D Secure is authenticated, as "Complete authentication" does.
        """
        method = self._request("POST", "/v1/payment_methods", form=[
            ("type", "card"), ("card[number]", number), ("card[exp_month]", "12"),
            ("card[exp_year]", str(time.gmtime().tm_year + 3)), ("card[cvc]", "123")])
        setup = self._request("POST", f"/v1/setup_intents/{setup_id}/confirm", form=[("payment_method", method["id"])])
        if setup["status"] == "requires_action":
            setup = self._request("POST", f"/v1/setup_intents/{setup_id}/confirm", form=[])
        if setup["status"] != "succeeded":
            raise LocalStripeError(f"the card setup {setup_id} ended {setup['status']}")
        return method["id"]

    def _list(self, path: str, params: dict | None = None) -> list[dict]:
        items: list[dict] = []
        query = {"limit": "100", **(params or {})}
        while True:
            page = self._request("GET", f"{path}?{urllib.parse.urlencode(query)}")
            items += page["data"]
            if not page["has_more"]:
                return items
            query["starting_after"] = page["data"][-1]["id"]

    def _request(self, method: str, path: str, *, form: list[tuple[str, str]] | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.api_base + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + TEST_SECRET_KEY)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            raise LocalStripeError(f"{method} {path}: {error.code} {error.read()!r}") from error
        return json.loads(body) if body.strip() else None

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.stripe_js_url, timeout=1):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise LocalStripeError("localstripe did not answer at " + self.api_base) from None
                time.sleep(0.05)


def _read_api_base(process: subprocess.Popen, timeout: float) -> str:
    # The child prints its address once bound; anything before it (a traceback) is the reason.
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(_lines_until_ready(process)), daemon=True)
    reader.start()
    reader.join(timeout)
    if lines and lines[-1].startswith(_READY_PREFIX):
        return lines[-1][len(_READY_PREFIX):].strip()
    raise LocalStripeError("localstripe did not start:\n" + "".join(lines))


def _lines_until_ready(process: subprocess.Popen):
    for line in process.stdout:
        yield line
        if line.startswith(_READY_PREFIX):
            return


@dataclass
class ReceivedWebhook:
    """One POST as localstripe sent it, ready to replay into the Flask test client."""

    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def signature(self) -> str:
        return self.headers["Stripe-Signature"]


@dataclass
class WebhookInbox:
    """A tiny HTTP receiver on 127.0.0.1 that records what localstripe posts to it.

    localstripe cannot reach the Flask test client, so tests register `inbox.url`, wait
    for the events, then replay `body` + `Stripe-Signature` into the webhook view.
    """

    received: list[ReceivedWebhook] = field(default_factory=list)

    def __post_init__(self) -> None:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with inbox._arrived:
                    inbox.received.append(ReceivedWebhook(body, dict(self.headers)))
                    inbox._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._arrived = threading.Condition()
        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/webhooks/stripe"

    def wait_for(self, event_type: str, *, object_id: str | None = None,
                 timeout: float = 10.0) -> ReceivedWebhook:
        """The first received event of `event_type` (about its `object_id`, if given).

        localstripe sends each event about one second after the call that caused it.
        """
        def match():
            for webhook in self.received:
                event = webhook.event
                if event["type"] == event_type and (
                        object_id is None or event["data"]["object"]["id"] == object_id):
                    return webhook
        with self._arrived:
            if self._arrived.wait_for(match, timeout):
                return match()
        seen = [w.event["type"] for w in self.received]
        raise TimeoutError(f"no {event_type} webhook within {timeout}s; received {seen}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookInbox:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def serve(port: int) -> None:
    """Run localstripe in this process on 127.0.0.1:`port` until killed (the child's side)."""
    import socket

    from aiohttp import web
    from localstripe import resources, server

    # Every localstripe process pickles its whole store to the same /tmp file after each
    # change; keep state in memory so parallel servers cannot clobber one another.
    resources.Store.dump_to_disk = lambda self: None

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    print(f"{_READY_PREFIX}http://{HOST}:{sock.getsockname()[1]}", flush=True)
    web.run_app(server.app, sock=sock, print=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.localstripe_server",
                                     description="Run localstripe on 127.0.0.1 (test tool).")
    parser.add_argument("--port", type=int, default=8420, help="0 picks a free port")
    serve(parser.parse_args(argv).port)


if __name__ == "__main__":
    main()
