"""Whatever fails between us and Stripe, the money at Stripe is the money in the ledger.

A Hypothesis state machine pays invoices with saved cards (one or several at once; a card
that pays, one that asks for 3-D Secure, one declined), with some charge calls failing on
the way through `FaultProxy`; resubmits the same attempt and starts new ones; refunds parts
of what invoices received and of credits no invoice took (some refunds failing too);
delivers the events localstripe really sent, again, twice and out of order; runs the
reconcile job now or as if minutes had passed, sometimes while Stripe fails its look-ups;
leaves 3-D Secure payments waiting until they are abandoned, or answered by the cardholder
first; and lets a charge or refund request the proxy never forwarded reach localstripe after
all, soon or after the portal gave it up for lost. It pays through the real `StripeGateway`,
so what is checked is what localstripe did. After every step:

- every charge localstripe made names a payment row, and no row it names is marked failed
  (unless it arrived after it was given up for lost and nobody told the portal yet);
- the ledger's succeeded payments ≤ what localstripe charged ≤ those + the payments in
  flight (+ those late arrivals), and the same for refunds (pending ones, and late ones, in
  flight); equal when nothing is in flight; no charge is refunded beyond its amount;
- for every invoice, from the rows, amount_due = total − paid + refunded − credited ≥ 0,
  as the invoice's own columns say;
- an invoice is charged beyond its total (by charges the ledger knows) only by as much as
  was refunded on it or is kept as a credit flagged for the collections team;
- claims are held by exactly the payments in flight, on exactly their invoices.

At the end of each example everything is settled (the job runs past every time limit and
every event is delivered), and then localstripe and the ledger must agree exactly.

Each example has a company of its own, so a customer of its own at localstripe, which is
not emptied between examples: everything is counted per customer.
"""

from collections import defaultdict
from datetime import timedelta

import pytest
import stripe
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.audit import Actor
from portal.models import (
    IN_FLIGHT_PAYMENT_STATUSES,
    Invoice,
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentChannel,
    PaymentStatus,
    Refund,
    RefundStatus,
    SavedCard,
)
from portal.models.types import utcnow
from portal.payments.charging import PaymentRequest, check_after_authentication, pay_invoices
from portal.payments.errors import PaymentInProgress, PaymentNotAllowed, RefundNotAllowed
from portal.payments.provider_events import RECHECK_LOST_FOR, check_payment, reconcile
from portal.payments.refunds import refund_allocation, refund_unallocated
from tests.payments.conftest import (
    DECLINED_ON_CHARGE,
    NEEDS_AUTHENTICATION,
    VISA,
    replay_webhook,
    save_card_through_service,
    stripe_config_through,
)
from tests.payments.fault_proxy import Fault

CHARGE_PATH = "^/v1/payment_intents$"
REFUND_PATH = "^/v1/refunds$"
LOOKUP_PATH = "^/v1/(payment_intents|refunds)"
STAFF = Actor.system("collections")
GIVEN_UP_RECHECKED_FOR = RECHECK_LOST_FOR + timedelta(days=1)

amounts = st.integers(min_value=1_00, max_value=5_000_00)
picks = st.integers(min_value=0, max_value=1_000)
# A part of what was paid, in percent; over 100 asks for too much.
shares = st.integers(min_value=1, max_value=110)
# Half the calls fail, those failing before the provider is reached twice as often as the
# others: a request never forwarded is the one that may yet arrive, after it was given up.
faults = st.none() | st.sampled_from([*Fault, Fault.REJECT_429, Fault.DROP_BEFORE_FORWARD])


def share_of(available: int, percent: int) -> int:
    return max(1, available * percent // 100)


@pytest.fixture
def app_overrides(fault_proxy, stripe_server):
    return stripe_config_through(fault_proxy, stripe_server)


class MoneyUnderFaults(RuleBasedStateMachine):
    """One company paying through localstripe and the fault proxy; the rigs are set by the test."""

    db = client = make = payments = server = proxy = inbox = stripe_api = None

    def __init__(self):
        super().__init__()
        # What an example that failed left behind (a planned fault, a broken transaction) is not this one's.
        self.proxy.clear()
        self.db.rollback()
        self._age_earlier_examples()
        self.company = self.make.company(locale="en")
        self.clerk = self.make.user(self.company, locale="en")
        self.actor = Actor.user(self.clerk)
        self.card = save_card_through_service(self.db, self.payments, self.stripe_api, company=self.company,
                                              user=self.clerk, number=VISA)
        self.secure_card = save_card_through_service(self.db, self.payments, self.stripe_api, company=self.company,
                                                     user=self.clerk, number=NEEDS_AUTHENTICATION)
        self.declined_card = save_card_through_service(self.db, self.payments, self.stripe_api, company=self.company,
                                                       user=self.clerk, number=DECLINED_ON_CHARGE)
        self.customer = self.company.provider_customer_id
        self.invoices: list[Invoice] = []
        self.attempts = 0
        # What each payment was asked to settle when it began, by its idempotency key.
        self.asked: dict[str, dict[int, int]] = {}
        # Attempts that made a payment: (attempt key, invoice ids, card).
        self.made: list[tuple[str, tuple[int, ...], int]] = []
        self.delivered: set[str] = set()
        # Refunds staff asked for on an invoice's share: (allocation id, amount).
        self.refunds_asked: list[tuple[int, int]] = []
        self.keys_of_intents: dict[str, str] = {}
        # Payments whose charge request the proxy never forwarded, and those of them whose
        # request reached localstripe after all (held up on the way, not lost).
        self.held_up: set[str] = set()
        self.arrived_late: set[str] = set()
        # The same for refunds, by refund id (and those whose arrival was already played out).
        self.held_up_refunds: set[int] = set()
        self.refunds_arrived_late: set[int] = set()
        self.refunds_played_out: set[int] = set()

    def _age_earlier_examples(self) -> None:
        """Earlier examples happened over a week ago: reconcile, which asks again about payments and
        refunds given up as never having reached the provider for a week, leaves theirs alone, so what
        it does in this example depends on this example only."""
        for model in (Payment, Refund):
            for row in self.db.scalars(select(model).where(model.failure_code == "never_reached",
                                                           model.created_at > utcnow() - GIVEN_UP_RECHECKED_FOR)):
                row.created_at -= GIVEN_UP_RECHECKED_FOR
        self.db.commit()

    # --- Invoices -------------------------------------------------------------------------

    @initialize(totals=st.lists(amounts, min_size=1, max_size=3))
    def issue_invoices(self, totals):
        for total in totals:
            self.issue_invoice(total)

    @precondition(lambda self: len(self.invoices) < 6)
    @rule(total=amounts)
    def issue_invoice(self, total):
        self.invoices.append(self.make.invoice(self.company, total=total))
        self.db.commit()

    # --- Paying ---------------------------------------------------------------------------

    def _pay(self, invoice_ids, attempt, card_id) -> Payment:
        request = PaymentRequest(invoice_ids=invoice_ids, attempt_key=attempt, card_id=card_id)
        return pay_invoices(self.db, self.payments, self.actor, company=self.company, request=request,
                            receipt_email=self.clerk.email)

    def _attempt(self, invoice_ids: tuple[int, ...], card_id: int, fault: Fault | None) -> None:
        """A new attempt (a page opened afresh) to pay `invoice_ids`, its charge failing with `fault`."""
        self.attempts += 1
        attempt = f"attempt-{self.attempts}"
        self.db.expire_all()
        invoices = [self.db.get(Invoice, invoice_id) for invoice_id in invoice_ids]
        claimed = self._claims()
        refusal = (PaymentNotAllowed if any(invoice.amount_due == 0 for invoice in invoices)
                   else PaymentInProgress if any(invoice.id in claimed for invoice in invoices) else None)
        charges_before = self._charge_requests()
        if fault is not None:
            self.proxy.fail_next(fault, path=CHARGE_PATH)
        try:
            if refusal is not None:
                with pytest.raises(refusal):
                    self._pay(invoice_ids, attempt, card_id)
                assert self._charge_requests() == charges_before
                return
            payment = self._pay(invoice_ids, attempt, card_id)
        finally:
            self.proxy.clear()
        self.asked[payment.idempotency_key] = {allocation.invoice_id: allocation.amount
                                               for allocation in payment.allocations}
        self.made.append((attempt, invoice_ids, card_id))
        assert self._charge_requests() == charges_before + 1
        if fault is not None:
            assert (payment.status, payment.provider_reference) == (PaymentStatus.PROCESSING, None)
            if not fault.forwards:
                self.held_up.add(payment.idempotency_key)
        else:
            assert payment.status == {self.secure_card.id: PaymentStatus.REQUIRES_ACTION,
                                      self.declined_card.id: PaymentStatus.FAILED}.get(card_id, PaymentStatus.SUCCEEDED)

    @rule(pick=picks, fault=faults, card=st.sampled_from(["visa", "visa", "3-D Secure", "declined"]))
    def pay_one_invoice(self, pick, fault, card):
        invoice = self.invoices[pick % len(self.invoices)]
        chosen = {"visa": self.card, "3-D Secure": self.secure_card, "declined": self.declined_card}[card]
        self._attempt((invoice.id,), chosen.id, fault)

    @rule(chosen=st.sets(picks, min_size=2, max_size=4), fault=faults)
    def pay_several_invoices(self, chosen, fault):
        invoice_ids = tuple(sorted({self.invoices[pick % len(self.invoices)].id for pick in chosen}))
        self._attempt(invoice_ids, self.card.id, fault)

    @precondition(lambda self: self.made)
    @rule(pick=picks)
    def submit_the_same_form_again(self, pick):
        attempt, invoice_ids, card_id = self.made[pick % len(self.made)]
        charges_before = self._charge_requests()
        key = f"pay-{self.company.id}-{attempt}"
        again = self._pay(invoice_ids, attempt, card_id)
        assert again.idempotency_key == key
        assert self._charge_requests() == charges_before

    @precondition(lambda self: self.made)
    @rule(pick=picks, fault=faults)
    def try_again_afresh(self, pick, fault):
        _, invoice_ids, card_id = self.made[pick % len(self.made)]
        self._attempt(invoice_ids, card_id, fault)

    # --- 3-D Secure -----------------------------------------------------------------------

    def _waiting(self) -> list[Payment]:
        return list(self.db.scalars(select(Payment).where(
            Payment.company_id == self.company.id, Payment.status == PaymentStatus.REQUIRES_ACTION,
            Payment.provider_reference.is_not(None)).order_by(Payment.id).execution_options(populate_existing=True)))

    @precondition(lambda self: self._waiting())
    @rule(pick=picks, success=st.booleans(), page_asks=st.booleans())
    def cardholder_answers_3d_secure(self, pick, success, page_asks):
        waiting = self._waiting()
        payment = waiting[pick % len(waiting)]
        intent = self.stripe_api.v1.payment_intents.retrieve(payment.provider_reference)
        if intent.status == "requires_action":
            self.server.authenticate_payment_intent(intent.to_dict(), success=success)
        if page_asks:
            check_after_authentication(self.db, self.payments, self.actor, company=self.company,
                                       payment_id=payment.id)
            self.db.refresh(payment)
            at_stripe = self.stripe_api.v1.payment_intents.retrieve(payment.provider_reference).status
            assert payment.status == {"succeeded": PaymentStatus.SUCCEEDED,
                                      "requires_action": PaymentStatus.REQUIRES_ACTION}.get(at_stripe,
                                                                                            PaymentStatus.FAILED)

    @precondition(lambda self: self._waiting())
    @rule(pick=picks)
    def the_cardholder_walks_away(self, pick):
        waiting = self._waiting()
        payment = waiting[pick % len(waiting)]
        answered = self.stripe_api.v1.payment_intents.retrieve(payment.provider_reference).status
        check_payment(self.db, self.payments, Actor.system("abandoned"), payment,
                      now=payment.created_at + self.payments.abandon_after + timedelta(minutes=1))
        self.db.refresh(payment)
        assert payment.status == (PaymentStatus.SUCCEEDED if answered == "succeeded" else PaymentStatus.FAILED)
        assert self.stripe_api.v1.payment_intents.retrieve(payment.provider_reference).status == (
            answered if answered != "requires_action" else "canceled")

    # --- Refunds --------------------------------------------------------------------------

    def _shares_paid(self) -> list[tuple[PaymentAllocation, int]]:
        """Each invoice's share of a succeeded payment, and what of it may still be refunded (pending refunds
        count as made: they may have been)."""
        return list(self.db.execute(
            select(PaymentAllocation, PaymentAllocation.amount - func.coalesce(
                select(func.sum(Refund.amount)).where(Refund.allocation_id == PaymentAllocation.id,
                                                      Refund.status != RefundStatus.FAILED)
                .scalar_subquery(), 0))
            .join(Payment).where(Payment.company_id == self.company.id, Payment.status == PaymentStatus.SUCCEEDED)
            .order_by(PaymentAllocation.id)
        ).all())

    def _stripe_would_refuse(self, payment_id: int, amount: int) -> bool:
        """Whether real Stripe would refuse to refund `amount` more of the payment's charge.

        Only when it holds a refund the portal has not heard of yet (one given up for lost that
        arrived after all) can the portal ask for more than the charge: real Stripe then refuses,
        localstripe would give it back.
        """
        unheard = [refund for refund in self._refunds() if refund.payment_id == payment_id
                   and refund.id in self.refunds_arrived_late and refund.status == RefundStatus.FAILED]
        if not unheard:
            return False
        payment = self.db.get(Payment, payment_id)
        [charge] = [charge for charge in self._charged() if charge["payment_intent"] == payment.provider_reference]
        return charge["amount_refunded"] + amount > charge["amount"]

    def _give_back(self, give, *, payment_id: int, amount: int, available: int, fault: Fault | None) -> None:
        """Staff ask `give()` to refund `amount`, `fault` on its way: refused beyond `available`, else made
        (or pending, its answer lost)."""
        if amount <= available and self._stripe_would_refuse(payment_id, amount):
            return
        if fault is not None:
            self.proxy.fail_next(fault, path=REFUND_PATH)
        try:
            if amount > available:
                with pytest.raises(RefundNotAllowed):
                    give()
                self.db.rollback()
                return
            made = give()
        finally:
            self.proxy.clear()
        assert made.status == (RefundStatus.SUCCEEDED if fault is None else RefundStatus.PENDING)
        if fault is not None and not fault.forwards:
            self.held_up_refunds.add(made.id)

    @precondition(lambda self: self._shares_paid())
    @rule(pick=picks, share=shares, fault=faults)
    def refund(self, pick, share, fault):
        """Staff refund part of an invoice's share of a payment (over 100 % of it: too much)."""
        self.db.expire_all()
        shares_paid = self._shares_paid()
        allocation, available = shares_paid[pick % len(shares_paid)]
        amount = share_of(allocation.amount, share)
        self._give_back(lambda: refund_allocation(self.db, self.payments, STAFF, payment_id=allocation.payment_id,
                                                  allocation_id=allocation.id, amount=amount),
                        payment_id=allocation.payment_id, amount=amount, available=available, fault=fault)
        self.refunds_asked.append((allocation.id, amount))

    @precondition(lambda self: self.refunds_asked)
    @rule(pick=picks)
    def staff_click_refund_again(self, pick):
        """The same refund asked for again, as a second click does (refused if the first may have been made)."""
        self.db.expire_all()
        allocation_id, amount = self.refunds_asked[pick % len(self.refunds_asked)]
        allocation, available = next(row for row in self._shares_paid() if row[0].id == allocation_id)
        self._give_back(lambda: refund_allocation(self.db, self.payments, STAFF, payment_id=allocation.payment_id,
                                                  allocation_id=allocation.id, amount=amount),
                        payment_id=allocation.payment_id, amount=amount, available=available, fault=None)

    def _held_up(self) -> list[Payment]:
        return [payment for payment in self._payments()
                if payment.idempotency_key in self.held_up - self.arrived_late
                and payment.status in (PaymentStatus.PROCESSING, PaymentStatus.FAILED)]

    @precondition(lambda self: self.held_up - self.arrived_late and self._held_up())
    @rule(pick=picks)
    def a_request_held_up_on_the_way_reaches_stripe(self, pick):
        """A charge request the portal saw fail before it was sent arrives after all: soon, or after the
        portal gave it up for lost (then Stripe's event, or reconcile asking again, must record it)."""
        held_up = self._held_up()
        payment = held_up[pick % len(held_up)]
        card = self.db.get(SavedCard, payment.saved_card_id)
        self.arrived_late.add(payment.idempotency_key)
        try:
            self.stripe_api.v1.payment_intents.create(
                {"amount": payment.amount, "currency": payment.currency.lower(), "customer": self.customer,
                 "payment_method": card.provider_id, "payment_method_types": ["card"], "confirm": True,
                 "metadata": {"payment_id": str(payment.id), "payment_key": payment.idempotency_key,
                              "company_ref": self.company.external_ref}},
                {"idempotency_key": payment.idempotency_key})
        except stripe.CardError:
            pass  # declined this time too: nothing taken

    def _refunds_held_up(self) -> list[Refund]:
        return [refund for refund in self._refunds()
                if refund.id in self.held_up_refunds - self.refunds_played_out
                and refund.status in (RefundStatus.PENDING, RefundStatus.FAILED)]

    @precondition(lambda self: self.held_up_refunds - self.refunds_played_out and self._refunds_held_up())
    @rule(pick=picks)
    def a_refund_request_held_up_on_the_way_reaches_stripe(self, pick):
        """A refund request the portal saw fail before it was sent arrives after all: soon, or after the
        portal gave it up for lost (then staff may have refunded again, and reconcile must notice)."""
        held_up = self._refunds_held_up()
        refund = held_up[pick % len(held_up)]
        self.refunds_played_out.add(refund.id)
        payment = refund.payment
        [charge] = [charge for charge in self._charged() if charge["payment_intent"] == payment.provider_reference]
        if charge["amount_refunded"] + refund.amount > charge["amount"]:
            return  # Stripe refuses to give back more than it took (localstripe would not)
        self.refunds_arrived_late.add(refund.id)
        self.stripe_api.v1.refunds.create(
            {"payment_intent": payment.provider_reference, "amount": refund.amount,
             "metadata": {"refund_id": str(refund.id), "refund_key": refund.idempotency_key,
                          "payment_id": str(payment.id)}},
            {"idempotency_key": refund.idempotency_key})

    def _credits(self) -> list[tuple[Payment, int]]:
        """Payments keeping money no invoice took, and what of it may still be refunded."""
        credits = []
        for payment in self._payments():
            if payment.status == PaymentStatus.SUCCEEDED and payment.amount > payment.allocated_amount:
                asked = sum(refund.amount for refund in self._refunds()
                            if refund.payment_id == payment.id and refund.allocation_id is None
                            and refund.status != RefundStatus.FAILED)
                credits.append((payment, payment.amount - payment.allocated_amount - asked))
        return credits

    # Only a charge that arrived late can leave money no invoice takes, here.
    @precondition(lambda self: self.arrived_late and self._credits())
    @rule(pick=picks, share=shares, fault=faults)
    def refund_a_credit(self, pick, share, fault):
        """The collections team gives back money a payment took that settles no invoice."""
        credits = self._credits()
        payment, available = credits[pick % len(credits)]
        amount = share_of(payment.amount - payment.allocated_amount, share)
        self._give_back(lambda: refund_unallocated(self.db, self.payments, STAFF, payment_id=payment.id,
                                                   amount=amount),
                        payment_id=payment.id, amount=amount, available=available, fault=fault)

    # --- Stripe's events, and asking Stripe -------------------------------------------------

    def _sent_events(self):
        """Every event localstripe sends about this company, oldest first, waited for (each comes a second late).

        The customer's creation, and the end of each charge it attempted: what it sent is
        known from its charges, so which events there are never depends on timing.
        """
        sent = [self.inbox.wait_for("customer.created", object_id=self.customer)]
        for charge in self.server.charges(customer=self.customer):
            outcome = {"succeeded": "payment_intent.succeeded", "failed": "payment_intent.payment_failed"}
            if charge["status"] in outcome:
                sent.append(self.inbox.wait_for(outcome[charge["status"]], object_id=charge["payment_intent"]))
        return sent

    def _deliver(self, webhook) -> None:
        event = webhook.event
        expected = ("duplicate" if event["id"] in self.delivered
                    else "applied" if event["type"] in ("payment_intent.succeeded", "payment_intent.payment_failed")
                    else "ignored")
        answer = replay_webhook(self.client, webhook.body, webhook.signature)
        assert (answer.status_code, answer.get_json()) == (200, {"outcome": expected}), event["type"]
        self.delivered.add(event["id"])

    @rule(pick=picks, times=st.integers(min_value=1, max_value=2), fresh=st.booleans())
    def stripe_delivers_an_event(self, pick, times, fresh):
        """An event localstripe sent, once or twice: one not delivered yet, or any, again and out of order."""
        sent = self._sent_events()
        if fresh:
            sent = [webhook for webhook in sent if webhook.event["id"] not in self.delivered] or sent
        webhook = sent[pick % len(sent)]
        for _ in range(times):
            self._deliver(webhook)

    @rule(minutes_later=st.sampled_from([0, 11, 16]))
    def the_reconcile_job_runs(self, minutes_later):
        now = utcnow() + timedelta(minutes=minutes_later)
        report = reconcile(self.db, self.payments, now=now)
        assert report.errors == 0
        self.db.expire_all()
        in_flight = self._in_flight_payments()
        if now > utcnow() + self.payments.lost_after:
            # Past the time a lost request could still arrive: only what waits for a cardholder is open.
            assert {payment.status for payment in in_flight} <= {PaymentStatus.REQUIRES_ACTION}
            assert self._pending_refunds() == []
        if now > utcnow() + self.payments.abandon_after:
            assert in_flight == []

    @precondition(lambda self: self._in_flight_payments() or self._pending_refunds())
    @rule(fault=st.sampled_from(list(Fault)), minutes_later=st.sampled_from([0, 16]))
    def the_reconcile_job_runs_while_stripe_fails(self, fault, minutes_later):
        self.proxy.fail_next(fault, method="GET", path=LOOKUP_PATH)
        try:
            report = reconcile(self.db, self.payments, now=utcnow() + timedelta(minutes=minutes_later))
        finally:
            self.proxy.clear()
        # The one look-up that failed leaves its payment or refund as it was; the others settle.
        assert report.errors <= 1

    # --- What must always hold -----------------------------------------------------------------

    def _charge_requests(self) -> int:
        return sum(1 for request in self.proxy.requests
                   if (request.method, request.path) == ("POST", "/v1/payment_intents"))

    def _claims(self) -> dict[int, int]:
        return dict(self.db.execute(
            select(InvoicePaymentClaim.invoice_id, InvoicePaymentClaim.payment_id)
            .where(InvoicePaymentClaim.invoice_id.in_([invoice.id for invoice in self.invoices]))).all())

    def _payments(self) -> list[Payment]:
        return list(self.db.scalars(select(Payment).where(Payment.company_id == self.company.id,
                                                          Payment.channel == PaymentChannel.PORTAL)
                                    .options(selectinload(Payment.allocations))
                                    .execution_options(populate_existing=True)))

    def _in_flight_payments(self) -> list[Payment]:
        return [payment for payment in self._payments() if payment.status in IN_FLIGHT_PAYMENT_STATUSES]

    def _refunds(self) -> list[Refund]:
        return list(self.db.scalars(select(Refund).join(Payment).where(Payment.company_id == self.company.id)
                                    .execution_options(populate_existing=True)))

    def _pending_refunds(self) -> list[Refund]:
        return [refund for refund in self._refunds() if refund.status == RefundStatus.PENDING]

    def _charged(self) -> list[dict]:
        """The succeeded charges localstripe made for this company's customer."""
        return [charge for charge in self.server.charges(customer=self.customer) if charge["status"] == "succeeded"]

    def _key_of(self, intent_id: str) -> str:
        if intent_id not in self.keys_of_intents:
            intent = self.stripe_api.v1.payment_intents.retrieve(intent_id)
            self.keys_of_intents[intent_id] = intent.metadata["payment_key"]
        return self.keys_of_intents[intent_id]

    @invariant()
    def localstripe_holds_the_money_the_ledger_says(self):
        self.db.expire_all()
        charged = self._charged()
        payments = self._payments()
        by_key = {payment.idempotency_key: payment for payment in payments}
        unreported = 0
        for charge in charged:
            assert charge["amount_refunded"] <= charge["amount"], charge["id"]
            payment = by_key.get(self._key_of(charge["payment_intent"]))
            assert payment is not None, f"charge {charge['id']} has no payment row"
            if payment.status == PaymentStatus.FAILED:
                # Money taken is never recorded as not taken, unless the portal could not know yet:
                # a request given up for lost that arrived after all, whose event is still to come.
                assert payment.idempotency_key in self.arrived_late, (
                    f"payment {payment.id} failed, yet {charge['id']} took it")
                unreported += charge["amount"]
            if payment.status == PaymentStatus.SUCCEEDED:
                assert (payment.provider_reference, payment.amount) == (charge["payment_intent"], charge["amount"])
        recorded = sum(payment.amount for payment in payments if payment.status == PaymentStatus.SUCCEEDED)
        in_flight = sum(payment.amount for payment in payments if payment.status in IN_FLIGHT_PAYMENT_STATUSES)
        at_stripe = sum(charge["amount"] for charge in charged)
        assert recorded <= at_stripe <= recorded + in_flight + unreported

        refunds = self._refunds()
        given_back = sum(refund.amount for refund in refunds if refund.status == RefundStatus.SUCCEEDED)
        pending = sum(refund.amount for refund in refunds if refund.status == RefundStatus.PENDING)
        # A refund given up for lost whose request arrived after all: only reconcile can tell.
        unreported_refunds = sum(refund.amount for refund in refunds if refund.status == RefundStatus.FAILED
                                 and refund.id in self.refunds_arrived_late)
        refunded_at_stripe = sum(charge["amount_refunded"] for charge in charged)
        assert given_back <= refunded_at_stripe <= given_back + pending + unreported_refunds

        if in_flight == unreported == pending == unreported_refunds == 0:
            assert sorted(charge["payment_intent"] for charge in charged) == sorted(
                payment.provider_reference for payment in payments if payment.status == PaymentStatus.SUCCEEDED)
            assert (at_stripe, refunded_at_stripe) == (recorded, given_back)

    @invariant()
    def amount_due_adds_up_from_the_rows(self):
        # Webhooks are applied by requests, in sessions of their own: read everything afresh.
        self.db.expire_all()
        ids = [invoice.id for invoice in self.invoices]
        received = self._sums(select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount)).join(Payment)
                              .where(PaymentAllocation.invoice_id.in_(ids), Payment.status == PaymentStatus.SUCCEEDED)
                              .group_by(PaymentAllocation.invoice_id))
        refunded = self._sums(select(PaymentAllocation.invoice_id, func.sum(Refund.amount)).join(PaymentAllocation)
                              .where(PaymentAllocation.invoice_id.in_(ids), Refund.status == RefundStatus.SUCCEEDED)
                              .group_by(PaymentAllocation.invoice_id))
        for invoice in self.db.scalars(select(Invoice).where(Invoice.id.in_(ids))):
            amount_due = invoice.amount_total - received[invoice.id] + refunded[invoice.id] - invoice.amount_credited
            assert amount_due == invoice.amount_due >= 0, invoice.number
            assert invoice.amount_paid == received[invoice.id] - refunded[invoice.id]

    @invariant()
    def no_invoice_is_charged_beyond_its_total_unless_it_is_kept_and_flagged(self):
        self.db.expire_all()
        payments = {payment.idempotency_key: payment for payment in self._payments()}
        taken_for: defaultdict[int, int] = defaultdict(int)
        credit_for: defaultdict[int, int] = defaultdict(int)
        for charge in self._charged():
            key = self._key_of(charge["payment_intent"])
            payment = payments[key]
            if payment.status != PaymentStatus.SUCCEEDED:
                continue  # not known to the ledger yet: bounded by the money invariant, settled by the end
            for invoice_id, amount in self.asked[key].items():
                taken_for[invoice_id] += amount
                if payment.unallocated_amount:
                    assert payment.attention is not None, f"payment {payment.id} keeps a credit unflagged"
                    credit_for[invoice_id] += payment.unallocated_amount
        refunded = self._sums(select(PaymentAllocation.invoice_id, func.sum(Refund.amount)).join(PaymentAllocation)
                              .join(Payment).where(Payment.company_id == self.company.id,
                                                   Refund.status == RefundStatus.SUCCEEDED)
                              .group_by(PaymentAllocation.invoice_id))
        for invoice in self.db.scalars(select(Invoice).where(Invoice.id.in_([i.id for i in self.invoices]))):
            assert taken_for[invoice.id] <= invoice.amount_total + refunded[invoice.id] + credit_for[invoice.id], (
                f"invoice {invoice.number} ({invoice.amount_total}) was charged {taken_for[invoice.id]}")

    @invariant()
    def claims_are_held_by_exactly_the_payments_in_flight(self):
        self.db.expire_all()
        expected = {allocation.invoice_id: payment.id for payment in self._in_flight_payments()
                    for allocation in payment.allocations}
        assert self._claims() == expected

    def _sums(self, statement) -> defaultdict[int, int]:
        return defaultdict(int, {key: total for key, total in self.db.execute(statement)})

    # --- The end of an example ------------------------------------------------------------------

    def teardown(self):
        """Everything settles: the job runs past every time limit, every event arrives; then all agrees exactly."""
        self.proxy.clear()
        report = reconcile(self.db, self.payments,
                           now=utcnow() + self.payments.abandon_after + self.payments.lost_after)
        assert report.errors == 0
        charged = self._charged()
        for webhook in reversed(self._sent_events()):
            self._deliver(webhook)
        self.db.expire_all()
        assert self._in_flight_payments() == []
        assert self._pending_refunds() == []
        assert self._claims() == {}
        for payment in self._payments():
            assert payment.unallocated_amount == 0 or payment.attention is not None, payment.id
        self.localstripe_holds_the_money_the_ledger_says()
        self.amount_due_adds_up_from_the_rows()
        self.no_invoice_is_charged_beyond_its_total_unless_it_is_kept_and_flagged()
        made = sorted(refund["id"] for charge in charged
                      for refund in self.server.refunds(payment_intent=charge["payment_intent"]))
        assert made == sorted(refund.provider_reference for refund in self._refunds()
                              if refund.status == RefundStatus.SUCCEEDED)


def test_money_at_stripe_is_the_money_in_the_ledger(db, client, make, payments, stripe_server, fault_proxy, inbox,
                                                    stripe_api):
    machine = MoneyUnderFaults
    machine.db, machine.client, machine.make, machine.payments = db, client, make, payments
    machine.server, machine.proxy, machine.inbox, machine.stripe_api = stripe_server, fault_proxy, inbox, stripe_api
    # derandomize: CI explores the same sequences every run. Longer random runs (80 to 150 examples
    # of 40 steps) pass: drop it to hunt. One random run ended with a charge refunded beyond its amount
    # at localstripe (1.71 refunded 3.28, two refunds of 1.64): a refund given up for lost reached
    # localstripe after all, and before reconcile told the portal, staff refunded the same again. Real
    # Stripe refuses a refund beyond what the charge took; localstripe makes it. `_stripe_would_refuse`
    # keeps the machine from asking what only localstripe would do.
    run_state_machine_as_test(MoneyUnderFaults, settings=settings(
        max_examples=20, stateful_step_count=30, deadline=None, derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
