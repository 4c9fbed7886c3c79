"""Who uses Acquit at once, for locust: clerks, guests, Stripe's webhooks and the supplier's ERP.

bench/load.py runs it (`locust -f bench/load/locustfile.py --headless ...`) after seeding; the
scenario it seeded (clerks, PAY NOW links, the API key, localstripe's address) comes in the
JSON file LOAD_SCENARIO names. Only HTTP, as the real clients have: nothing here imports the
portal. Each request is named by its kind, which is what the report's percentiles are per.

An answer is an error unless it is one the portal gives on purpose: a clerk or guest who
comes second to an invoice someone else has just paid is told so (409 or the settled page),
which is counted among the outcomes, not as an error. At the end the figures, the errors and the
outcomes are written to the JSON file LOAD_REPORT names.
"""

import hashlib
import hmac
import html
import itertools
import json
import os
import random
import re
import time
from collections import Counter, deque
from datetime import date, timedelta

import gevent
import requests
from gevent.pywsgi import WSGIServer
from gevent.queue import Empty, Queue
from locust import HttpUser, between, constant, events, task
from requests.adapters import HTTPAdapter

SCENARIO = json.loads(open(os.environ["LOAD_SCENARIO"]).read())
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ATTEMPT_FIELD = re.compile(r'name="attempt_key"[^>]*value="([0-9a-f]{32})"')
SETUP_FIELD = re.compile(r'name="setup_id"[^>]*value="([^"]+)"')
CLIENT_SECRET = re.compile(r'data-client-secret="([^"]+)"')
CARD_CHOICE = re.compile(r'<input[^>]*name="card"[^>]*value="(\d+)"')
PAYABLE = re.compile(r'<input type="checkbox" name="invoice" value="(\d+)"')
DETAIL_LINK = re.compile(r'href="/invoices/(\d+)"')
PAYMENT_PAGE = re.compile(r"/payments/\d+$")
ERROR_MESSAGE = re.compile(r'<p class="flash flash-error" role="alert">([^<]+)</p>')
TODAY = date.today()
FILTERS = [
    {"status": "overdue"},
    {"status": "open", "sort": "amount", "direction": "asc"},
    {"status": "paid", "per_page": "50"},
    {"q": "LOAD-00"},
    {"po": "PO-1"},
    {"issued_from": (TODAY - timedelta(days=90)).isoformat()},
    {"amount_min": "100", "amount_max": "500"},
    {"page": "2", "sort": "number"},
]

outcomes: Counter = Counter()
clerk_accounts = itertools.cycle(SCENARIO["clerks"])
unused_links = deque(SCENARIO["guest_links"])
guest_addresses = itertools.count(1)
erp_numbers = itertools.count(1)


def csrf(page) -> str:
    return CSRF_FIELD.search(page.text)[1]


def refusal(page) -> str:
    """The reason a page gives for refusing, as its error box says it."""
    message = ERROR_MESSAGE.search(page.text)
    return " ".join(html.unescape(message[1]).split()) if message else "(the page names none)"


class SourceAddress(HTTPAdapter):
    """Connections from one address of 127.0.0.0/8: each guest is a visitor of their own, as on the internet."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, connections, maxsize, block=False, **kwargs):
        super().init_poolmanager(connections, maxsize, block, source_address=(self.address, 0), **kwargs)


# --- Stripe's webhooks: localstripe posts its events here; a user delivers them ------------------


class WebhookInbox:
    """Receives the events localstripe sends (it signs them, we sign again when we deliver them)."""

    def __init__(self):
        self.waiting: Queue = Queue()
        self.delivered: list[bytes] = []
        self._server = WSGIServer(("127.0.0.1", 0), self._receive, log=None)
        self._server.start()
        requests.post(f"{SCENARIO['stripe_api_base']}/_config/webhooks/load", timeout=10, data=[
            ("url", f"http://127.0.0.1:{self._server.server_port}/stripe/webhook"),
            ("secret", SCENARIO["webhook_secret"]),
            ("events[]", "payment_intent.succeeded"), ("events[]", "payment_intent.payment_failed"),
        ]).raise_for_status()

    def _receive(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.waiting.put(environ["wsgi.input"].read(length))
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]


inbox: WebhookInbox | None = None
run = None  # locust's Environment, once it has started


@events.init.add_listener
def _listen_for_webhooks(environment, **kwargs):
    global inbox, run
    inbox, run = WebhookInbox(), environment


@events.quit.add_listener
def _write_report(exit_code, **kwargs):
    """Every request's figures, the errors and the outcomes, once the last user has stopped (locust's
    periodic CSV can miss the last second)."""

    def figures(entry) -> dict:
        return {"method": entry.method, "name": entry.name, "count": entry.num_requests,
                "errors": entry.num_failures, "rps": entry.total_rps,
                **{f"p{round(q * 100)}": entry.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)}}

    stats = run.runner.stats
    report = {
        "requests": [figures(entry) for entry in sorted(stats.entries.values(), key=lambda e: e.name)],
        "total": figures(stats.total),
        "seconds": stats.total.last_request_timestamp - stats.total.start_time,
        "errors": [{"method": error.method, "name": error.name, "error": str(error.error),
                    "occurrences": error.occurrences} for error in stats.errors.values()],
        "outcomes": dict(outcomes),
    }
    with open(os.environ["LOAD_REPORT"], "w") as written:
        json.dump(report, written, indent=1)


def stripe_signature(payload: bytes, secret: str) -> str:
    """The `Stripe-Signature` header as Stripe makes it: HMAC-SHA256 of "timestamp.payload"."""
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- The users ---------------------------------------------------------------------------------


class Clerk(HttpUser):
    """A customer's accounts-payable clerk: looks through invoices, opens and downloads some, pays some."""

    weight = 6
    wait_time = between(2, 6)

    def on_start(self):
        self.account = next(clerk_accounts)
        self.seen_invoices: list[str] = []
        login = self.client.get("/login", name="clerk: sign-in page")
        with self.client.post("/login", name="clerk: sign in", allow_redirects=False, catch_response=True, data={
                "email": self.account["email"], "password": self.account["password"], "csrf_token": csrf(login)}) as answer:
            if answer.status_code != 303:
                answer.failure(f"sign-in answered {answer.status_code}")

    def _remember(self, page) -> None:
        self.seen_invoices = DETAIL_LINK.findall(page.text) or self.seen_invoices

    @task(4)
    def invoice_list(self):
        self._remember(self.client.get("/invoices", name="clerk: invoice list"))

    @task(3)
    def filtered_list(self):
        filters = random.choice(FILTERS)
        if random.random() < 0.5:
            # The filter form swaps the results in with htmx, as the browser does on each change.
            page = self.client.get("/invoices", params=filters, headers={"HX-Request": "true"},
                                   name="clerk: invoice list, filtered (htmx)")
        else:
            page = self.client.get("/invoices", params=filters, name="clerk: invoice list, filtered")
        self._remember(page)

    @task(3)
    def invoice_detail(self):
        if self.seen_invoices:
            self.client.get(f"/invoices/{random.choice(self.seen_invoices)}", name="clerk: invoice detail")

    @task(1)
    def invoice_pdf(self):
        if self.seen_invoices:
            self.client.get(f"/invoices/{random.choice(self.seen_invoices)}/pdf", name="clerk: invoice PDF")

    @task(1)
    def payment_history(self):
        self.client.get("/payments", name="clerk: payments list")

    @task(3)
    def pay(self):
        listed = self.client.get("/invoices", params={"status": random.choice(["open", "overdue"]), "per_page": "50"},
                                 name="clerk: invoice list, unpaid")
        payable = PAYABLE.findall(listed.text)
        if not payable:
            outcomes["clerk found nothing to pay"] += 1
            return
        # Half the time the invoices at the top of the list, which the company's other clerk sees there too.
        pool = payable[:3] if random.random() < 0.5 else payable
        chosen = random.sample(pool, min(len(pool), random.choice((1, 1, 2, 3))))
        form = self.client.get("/payments/new", params={"invoice": chosen}, name="clerk: pay form")
        attempt, card = ATTEMPT_FIELD.search(form.text), CARD_CHOICE.search(form.text)
        if attempt is None or card is None:
            # Paid by a colleague since the list was read: the page says there is nothing left to pay.
            outcomes["clerk's pay form had nothing left to pay"] += 1
            return
        fields = {"csrf_token": csrf(form), "attempt_key": attempt[1], "card": card[1], "named_card": card[1]}
        fields.update({f"invoice-{index}": invoice_id for index, invoice_id in enumerate(chosen)})
        if random.random() < 0.15:
            # A double click: the same form twice at once. It is one payment, whatever each answer says.
            clicks = [gevent.spawn(self._submit, fields, "clerk: pay (double click)") for _ in range(2)]
            gevent.joinall(clicks)
            places = {click.value for click in clicks} - {None}
            outcomes[f"clerk double click: {len(places)} payment page(s) named"] += 1
        else:
            places = {self._submit(fields, "clerk: pay")} - {None}
        for place in places:
            self.client.get(place, name="clerk: payment page")

    def _submit(self, fields: dict, name: str) -> str | None:
        """POST the pay form; the payment page it leads to, or None when told another payment came first."""
        with self.client.post("/payments", data=fields, name=name, allow_redirects=False,
                              catch_response=True) as answer:
            if answer.status_code == 303 and PAYMENT_PAGE.search(answer.headers.get("Location", "")):
                outcomes["clerk payment made"] += 1
                return answer.headers["Location"]
            if answer.status_code == 409:
                # Another payment holds or has settled one of these invoices: told so, nothing charged.
                answer.success()
                outcomes[f"clerk payment refused, 409: {refusal(answer)}"] += 1
            else:
                answer.failure(f"paying answered {answer.status_code}")
            return None


class Guest(HttpUser):
    """Someone who got a PAY NOW e-mail: opens the link, types a card, pays. A new visitor each time."""

    weight = 2
    wait_time = between(4, 12)

    def _new_visitor(self) -> None:
        number = self.visitor = next(guest_addresses)
        address = f"127.{1 + number // 62500 % 254}.{number // 250 % 250 + 1}.{number % 250 + 1}"
        self.client.cookies.clear()
        self.client.close()
        self.client.mount("http://", SourceAddress(address))

    @task
    def pay(self):
        self._new_visitor()
        path = unused_links.popleft() if unused_links else random.choice(SCENARIO["guest_links"])
        page = self.client.get(path, name="guest: pay page")
        secret, setup, attempt = CLIENT_SECRET.search(page.text), SETUP_FIELD.search(page.text), \
            ATTEMPT_FIELD.search(page.text)
        if page.status_code != 200 or not (secret and setup and attempt):
            # Paid already (by the customer's clerk, or a guest before): the page says so.
            outcomes["guest found the invoice settled"] += 1
            return
        # What Stripe.js's confirmCardSetup sends from the browser (localstripe's copy of it).
        with self.client.post(f"{SCENARIO['stripe_api_base']}/v1/setup_intents/{setup[1]}/confirm",
                              name="guest: Stripe.js confirmCardSetup (localstripe)", catch_response=True,
                              data=json.dumps({"key": SCENARIO["publishable_key"], "use_stripe_sdk": True,
                                               "client_secret": secret[1],
                                               "payment_method_data": {"type": "card", "card": SCENARIO["card"],
                                                                       "billing_details": {"name": ""}}})) as confirmed:
            if confirmed.status_code != 200 or confirmed.json().get("status") != "succeeded":
                confirmed.failure(f"confirmCardSetup answered {confirmed.status_code}")
                return
        with self.client.post(path, name="guest: pay", allow_redirects=False, catch_response=True, data={
                "csrf_token": csrf(page), "attempt_key": attempt[1], "setup_id": setup[1],
                "email": f"ap{self.visitor}@guest.test"}) as answer:
            location = answer.headers.get("Location", "")
            if answer.status_code == 303 and "/payments/" in location:
                outcomes["guest payment made"] += 1
            elif answer.status_code == 409 or (answer.status_code == 200 and not ATTEMPT_FIELD.search(answer.text)):
                answer.success()
                outcomes[f"guest payment refused, {answer.status_code}: {refusal(answer)}"] += 1
                return
            else:
                answer.failure(f"paying answered {answer.status_code}")
                return
        self.client.get(location, name="guest: payment page")


class StripeWebhooks(HttpUser):
    """Stripe delivering its events: each once as it comes, and some again later, as Stripe retries."""

    fixed_count = 1
    wait_time = constant(0)

    @task
    def deliver(self):
        try:
            body, kind = inbox.waiting.get(timeout=1), "new event"
        except Empty:
            if not inbox.delivered or random.random() < 0.5:
                return
            body, kind = random.choice(inbox.delivered), "redelivery"
        with self.client.post("/stripe/webhook", data=body, name=f"webhook: {kind}", catch_response=True, headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": stripe_signature(body, SCENARIO["webhook_secret"])}) as answer:
            if answer.status_code != 200:
                answer.failure(f"the webhook answered {answer.status_code}")
                return
            outcomes[f"webhook {kind}: {answer.json().get('outcome')}"] += 1
        if kind == "new event":
            inbox.delivered.append(body)
        gevent.sleep(random.uniform(0.1, 0.5))


class Erp(HttpUser):
    """The supplier's ERP: puts new invoices, sends some again unchanged, changes some (terms or amounts),
    reads some back."""

    fixed_count = 1
    wait_time = between(0.5, 2)

    def on_start(self):
        self.client.headers.update({"Authorization": f"Bearer {SCENARIO['api_key']}"})
        self.sent: dict[str, dict] = {}

    def _put(self, number: str, body: dict, name: str, expected: tuple[int, ...]) -> None:
        with self.client.put(f"/api/v1/invoices/{number}", json=body, name=name, catch_response=True) as answer:
            if answer.status_code not in expected:
                answer.failure(f"answered {answer.status_code}: {answer.text[:200]}")
                return
            answer.success()
            answered = answer.json()
            if answer.status_code == 409:
                outcomes[f"api invoice refused: {answered['error']['code']}"] += 1
                return
            outcomes[f"api invoice {answered['outcome']}"] += 1
        self.sent[number] = body

    @task(5)
    def new_invoice(self):
        n = next(erp_numbers)
        issued = TODAY - timedelta(days=n % 20)
        body = {"company_ref": random.choice(SCENARIO["companies"]), "po_number": f"PO-API-{n}",
                "issue_date": issued.isoformat(), "due_date": (issued + timedelta(days=30)).isoformat(),
                "currency": "EUR", "lines": [
                    {"description": "Steel brackets (box of 100)", "quantity": 1 + n % 7, "unit_amount": 4599,
                     "tax_rate": "20.00"},
                    {"description": "Express delivery", "quantity": "1", "unit_amount": 2500, "tax_rate": "20.00"}]}
        self._put(f"API-{os.getpid()}-{n:06d}", body, "api: PUT invoice (new)", (201,))

    @task(2)
    def same_again(self):
        if self.sent:
            number = random.choice(list(self.sent))
            self._put(number, self.sent[number], "api: PUT invoice (sent again)", (200,))

    @task(2)
    def change_po(self):
        if self.sent:
            number = random.choice(list(self.sent))
            # A reference changes, not an amount: allowed even once the invoice is (being) paid.
            self._put(number, {**self.sent[number], "po_number": f"PO-API-{random.randint(1, 10**6)}"},
                      "api: PUT invoice (changed)", (200,))

    @task(1)
    def change_amount(self):
        if self.sent:
            number = random.choice(list(self.sent))
            body = self.sent[number]
            lines = [{**body["lines"][0], "quantity": body["lines"][0]["quantity"] % 7 + 1}, *body["lines"][1:]]
            # Refused (409) once the invoice is paid or being paid; a clerk may be paying it right now.
            self._put(number, {**body, "lines": lines}, "api: PUT invoice (new amount)", (200, 409))

    @task(1)
    def read_back(self):
        if self.sent:
            self.client.get(f"/api/v1/invoices/{random.choice(list(self.sent))}", name="api: GET invoice")
