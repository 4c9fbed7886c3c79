"""Every call that moves money, failing every way the network can fail, moves it once.

The calls: paying one invoice with a saved card, paying three at once, a guest paying
from a PAY NOW link, and staff refunding part of an invoice's share. The faults: every one
`FaultProxy` (tests/payments/fault_proxy.py) injects between the stripe library and
localstripe, on that very call, the portal giving up on an answer after a second.

After the fault, the person does what a person does: submits the same form again, then
starts afresh (refused while the first is in flight). The reconcile job runs, and runs
again once the call could only have been lost on its way; localstripe's own events are
delivered, each twice and latest first; and the person tries once more if the portal says
nothing was taken. Then what localstripe holds is compared with the ledger: the succeeded
charges and refunds at localstripe are exactly the succeeded payments and refunds in the
database, every charge has its row, no invoice was charged twice or received more than its
total, and nothing is left holding an invoice.

Then the cases the matrix cannot make: Stripe's event settling a lost answer before the
reconcile job does; a charge or refund request given up for lost that reaches Stripe after
all (recorded, and flagged for the collections team); and reconcile going on past one
payment it cannot settle.
"""

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit import Actor
from portal.guest.service import GuestLimits, pay_as_guest
from portal.models import (
    CARD_CHANNELS,
    IN_FLIGHT_PAYMENT_STATUSES,
    Company,
    Invoice,
    InvoicePaymentClaim,
    Payment,
    PaymentAllocation,
    PaymentAttention,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from portal.payments.charging import PaymentRequest, pay_invoices
from portal.payments.errors import PaymentInProgress, PaymentNotAllowed, RefundNotAllowed
from portal.payments.provider_events import NEVER_REACHED_MESSAGE, reconcile
from portal.payments.refunds import refund_allocation, refund_unallocated
from tests.payments.conftest import VISA, confirm_setup_like_stripe_js, replay_webhook, stripe_config_through
from tests.payments.fault_proxy import Fault

CHARGE_PATH = "/v1/payment_intents"
REFUND_PATH = "/v1/refunds"
FAULTS = list(Fault)
FAULT_IDS = [fault.name for fault in FAULTS]
CHARGE_CALLS = ["one_invoice", "three_invoices", "guest"]
GUEST_TOKEN = "guest-link-token-" + "x" * 40


@pytest.fixture
def app_overrides(fault_proxy, stripe_server):
    return stripe_config_through(fault_proxy, stripe_server)


# --- Who pays -------------------------------------------------------------------------------


@dataclass
class Payer:
    """Someone paying `invoices`; `pay(attempt)` submits the pay form whose attempt key is `attempt`.

    `card_of(attempt)` is the card (PaymentMethod) that attempt's charge named, and `customer`
    the customer it named (None for a guest), so a test can make the request the portal made.
    """

    company: Company
    invoices: list[Invoice]
    pay: Callable[..., Payment]
    card_of: Callable[[str], str]
    customer: str | None


@pytest.fixture
def payer_for(db, make, payments, save_card, stripe_api) -> Callable[[str], Payer]:
    def card_payer(totals) -> Payer:
        company = make.company(locale="en")
        clerk = make.user(company, locale="en")
        card = save_card(company, clerk)
        invoices = [make.invoice(company, total=total) for total in totals]

        def pay(attempt: str, chosen: list[Invoice] | None = None) -> Payment:
            request = PaymentRequest(invoice_ids=tuple(invoice.id for invoice in chosen or invoices),
                                     attempt_key=attempt)
            return pay_invoices(db, payments, Actor.user(clerk), company=company, request=request,
                                receipt_email=clerk.email)

        return Payer(company, invoices, pay, lambda attempt: card.provider_id, company.provider_customer_id)

    def guest_payer() -> Payer:
        company = make.company(locale="en", billing_emails=["ap@guest.test"])
        invoice = make.invoice(company, total=456_00)
        setups: dict[str, str] = {}

        def pay(attempt: str) -> Payment:
            # Each time the guest opens the page, it starts a card setup that Stripe.js completes.
            if attempt not in setups:
                setup = payments.gateway.start_card_setup(customer_id=None)
                confirm_setup_like_stripe_js(stripe_api, setup.setup_id, VISA)
                setups[attempt] = setup.setup_id
            return pay_as_guest(db, payments, invoice=invoice, token=GUEST_TOKEN, setup_id=setups[attempt],
                                attempt_key=attempt, amount=None, receipt_email="payer@guest.test",
                                ip_address="203.0.113.7", limits=GuestLimits())

        def card_of(attempt: str) -> str:
            return stripe_api.v1.setup_intents.retrieve(setups[attempt]).payment_method

        return Payer(company, [invoice], pay, card_of, None)

    def build(call: str) -> Payer:
        match call:
            case "one_invoice":
                return card_payer([250_00])
            case "three_invoices":
                return card_payer([123_45, 678_90, 1_000_01])
            case "guest":
                return guest_payer()
        raise ValueError(call)

    return build


# --- Stripe's events, as localstripe sent them ------------------------------------------------


class Events:
    """Replays into POST /stripe/webhook what localstripe posted to the inbox; each event id applies once."""

    def __init__(self, client, inbox):
        self._client = client
        self._inbox = inbox
        self._delivered: set[str] = set()

    def deliver_twice_latest_first(self, intent_ids: list[str]) -> None:
        deliveries = [self._inbox.wait_for("payment_intent.succeeded", object_id=intent_id)
                      for intent_id in intent_ids]
        for delivery in reversed(deliveries):
            for _ in range(2):
                expected = "duplicate" if delivery.event["id"] in self._delivered else "applied"
                answer = replay_webhook(self._client, delivery.body, delivery.signature)
                assert (answer.status_code, answer.get_json()) == (200, {"outcome": expected})
                self._delivered.add(delivery.event["id"])


@pytest.fixture
def events(client, inbox) -> Events:
    return Events(client, inbox)


# --- What localstripe holds, and what the ledger says -------------------------------------------


def company_intents(server, company: Company) -> dict[str, dict]:
    """The company's PaymentIntents at localstripe (a guest's have no customer: matched by our metadata)."""
    return {intent["id"]: intent for intent in server.payment_intents()
            if (intent.get("metadata") or {}).get("company_ref") == company.external_ref}


def succeeded_intent_ids(server, company: Company) -> list[str]:
    intents = company_intents(server, company)
    return [charge["payment_intent"] for charge in server.succeeded_charges() if charge["payment_intent"] in intents]


def requests_to(proxy, path: str) -> list:
    return [request for request in proxy.requests if (request.method, request.path) == ("POST", path)]


def held_claims(db, invoices: list[Invoice]) -> dict[int, int]:
    return dict(db.execute(select(InvoicePaymentClaim.invoice_id, InvoicePaymentClaim.payment_id)
                           .where(InvoicePaymentClaim.invoice_id.in_([invoice.id for invoice in invoices]))).all())


def assert_localstripe_and_ledger_agree(db, server, company: Company, invoices: list[Invoice]) -> None:
    db.expire_all()
    intents = company_intents(server, company)
    charges = [charge for charge in server.succeeded_charges() if charge["payment_intent"] in intents]
    payments = list(db.scalars(select(Payment).where(Payment.company_id == company.id,
                                                     Payment.channel.in_(CARD_CHANNELS))))
    by_key = {payment.idempotency_key: payment for payment in payments}
    succeeded = [payment for payment in payments if payment.status == PaymentStatus.SUCCEEDED]

    # Every charge localstripe made has its payment row, settled as that very charge.
    for charge in charges:
        key = intents[charge["payment_intent"]]["metadata"]["payment_key"]
        assert key in by_key, f"charge {charge['id']} ({key}) has no payment row"
        payment = by_key[key]
        assert (payment.status, payment.provider_reference, payment.amount) == (
            PaymentStatus.SUCCEEDED, charge["payment_intent"], charge["amount"])
    assert sorted(charge["payment_intent"] for charge in charges) == sorted(
        payment.provider_reference for payment in succeeded)
    assert sum(charge["amount"] for charge in charges) == sum(payment.amount for payment in succeeded)

    made = [refund for intent_id in {charge["payment_intent"] for charge in charges}
            for refund in server.refunds(payment_intent=intent_id)]
    refunds = list(db.scalars(select(Refund).join(Payment).where(Payment.company_id == company.id)))
    refunded = [refund for refund in refunds if refund.status == RefundStatus.SUCCEEDED]
    assert {refund["status"] for refund in made} <= {"succeeded"}
    assert sorted(refund["id"] for refund in made) == sorted(refund.provider_reference for refund in refunded)
    assert sum(refund["amount"] for refund in made) == sum(refund.amount for refund in refunded)

    # Everything settled: nothing in flight, nothing holding an invoice; money no invoice
    # took is on the collections team's list.
    assert [payment.id for payment in payments if payment.status in IN_FLIGHT_PAYMENT_STATUSES] == []
    assert [refund.id for refund in refunds if refund.status == RefundStatus.PENDING] == []
    assert held_claims(db, invoices) == {}
    for payment in succeeded:
        assert payment.amount == payment.allocated_amount + payment.unallocated_amount
        assert payment.unallocated_amount == 0 or payment.attention is not None, payment.id

    for invoice in invoices:
        received = db.scalar(select(func.coalesce(func.sum(PaymentAllocation.amount), 0)).join(Payment).where(
            PaymentAllocation.invoice_id == invoice.id, Payment.status == PaymentStatus.SUCCEEDED))
        given_back = db.scalar(select(func.coalesce(func.sum(Refund.amount), 0)).join(PaymentAllocation).where(
            PaymentAllocation.invoice_id == invoice.id, Refund.status == RefundStatus.SUCCEEDED))
        assert invoice.amount_paid == received - given_back
        assert 0 <= invoice.amount_paid <= invoice.amount_total
        assert invoice.amount_due == invoice.amount_total - invoice.amount_paid - invoice.amount_credited >= 0
        # Charged once for it; any other charge meant for it settles nothing and is flagged.
        settling = [charge["id"] for charge in charges if invoice.id in {
            allocation.invoice_id
            for allocation in by_key[intents[charge["payment_intent"]]["metadata"]["payment_key"]].allocations}]
        assert len(settling) <= 1, f"invoice {invoice.number} charged {settling}"


def attention_flags(db, company: Company) -> list[tuple[int, str]]:
    return [(payment.id, payment.attention) for payment in db.scalars(
        select(Payment).where(Payment.company_id == company.id, Payment.attention.is_not(None)))]


def past_lost_after(payments, row) -> timedelta:
    return row.created_at + payments.lost_after + timedelta(minutes=1)


# --- Charges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize("call", CHARGE_CALLS)
def test_a_charge_whose_answer_is_lost_is_made_once(db, payments, fault_proxy, stripe_server, events, payer_for,
                                                    call, fault):
    payer = payer_for(call)
    fault_proxy.fail_next(fault, path=f"^{CHARGE_PATH}$")

    first = payer.pay("first")

    assert (first.status, first.provider_reference) == (PaymentStatus.PROCESSING, None)
    assert held_claims(db, payer.invoices) == {invoice.id: first.id for invoice in payer.invoices}
    # Told the outcome is being checked, the payer submits the same form again: that payment, nothing new.
    assert payer.pay("first").id == first.id
    # Then opens the page afresh and pays: refused while the first may still be charged.
    with pytest.raises(PaymentInProgress):
        payer.pay("second")
    if len(payer.invoices) > 1:
        with pytest.raises(PaymentInProgress):
            payer.pay("second-part", payer.invoices[1:2])
    [charge_request] = requests_to(fault_proxy, CHARGE_PATH)
    assert (charge_request.fault, charge_request.forwarded) == (fault, fault.forwards)
    assert len(company_intents(stripe_server, payer.company)) == (1 if fault.forwards else 0)

    report = reconcile(db, payments)

    assert report.errors == 0
    db.refresh(first)
    if fault.forwards:
        [intent_id] = company_intents(stripe_server, payer.company)
        assert (first.status, first.provider_reference) == (PaymentStatus.SUCCEEDED, intent_id)
    else:
        # localstripe has no record of it, but the request could still be on its way: wait.
        assert first.status == PaymentStatus.PROCESSING
        assert held_claims(db, payer.invoices) == {invoice.id: first.id for invoice in payer.invoices}
        with pytest.raises(PaymentInProgress):
            payer.pay("second")
        assert reconcile(db, payments, now=past_lost_after(payments, first)).errors == 0
        db.refresh(first)
        assert (first.status, first.failure_message) == (PaymentStatus.FAILED, NEVER_REACHED_MESSAGE)
    events.deliver_twice_latest_first(succeeded_intent_ids(stripe_server, payer.company))

    if first.status == PaymentStatus.FAILED:
        # Told nothing was taken, the payer tries once more.
        assert payer.pay("third").status == PaymentStatus.SUCCEEDED
    # Whatever the payer does now, the invoices are paid.
    for attempt in ("second", "fourth"):
        with pytest.raises(PaymentNotAllowed):
            payer.pay(attempt)
    events.deliver_twice_latest_first(succeeded_intent_ids(stripe_server, payer.company))
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)
    assert [invoice.amount_due for invoice in payer.invoices] == [0] * len(payer.invoices)
    assert len(succeeded_intent_ids(stripe_server, payer.company)) == 1
    assert attention_flags(db, payer.company) == []


@pytest.mark.parametrize("fault", [Fault.FORWARD_THEN_502, Fault.FORWARD_THEN_TIMEOUT], ids=lambda fault: fault.name)
@pytest.mark.parametrize("call", CHARGE_CALLS)
def test_stripe_s_event_can_settle_a_lost_answer_before_reconcile_does(db, payments, fault_proxy, stripe_server,
                                                                       events, payer_for, call, fault):
    payer = payer_for(call)
    fault_proxy.fail_next(fault, path=f"^{CHARGE_PATH}$")
    first = payer.pay("first")
    assert first.status == PaymentStatus.PROCESSING

    events.deliver_twice_latest_first(succeeded_intent_ids(stripe_server, payer.company))

    db.refresh(first)
    assert first.status == PaymentStatus.SUCCEEDED
    assert reconcile(db, payments, now=past_lost_after(payments, first)).checked == 0
    with pytest.raises(PaymentNotAllowed):
        payer.pay("second")
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)
    assert [invoice.amount_due for invoice in payer.invoices] == [0] * len(payer.invoices)


# --- Refunds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
def test_a_refund_whose_answer_is_lost_is_made_once(db, make, payments, fault_proxy, stripe_server, events,
                                                    payer_for, fault):
    payer = payer_for("one_invoice")
    [invoice] = payer.invoices
    payment = payer.pay("paid")
    assert payment.status == PaymentStatus.SUCCEEDED
    [allocation] = payment.allocations
    staff = Actor.user(make.staff())

    def refund_most_of_it() -> Refund:
        # More than half: a second click for the same amount is more than can still be refunded.
        return refund_allocation(db, payments, staff, payment_id=payment.id, allocation_id=allocation.id,
                                 amount=150_00, reason="Returned goods")

    fault_proxy.fail_next(fault, path=f"^{REFUND_PATH}$")

    first = refund_most_of_it()

    assert (first.status, first.provider_reference) == (RefundStatus.PENDING, None)
    db.refresh(invoice)
    assert invoice.amount_due == 0  # reopened only once the refund is known to be made
    # Staff, told it is being checked, click again: refused, the pending refund counts as made.
    with pytest.raises(RefundNotAllowed):
        refund_most_of_it()
    db.rollback()
    [refund_request] = requests_to(fault_proxy, REFUND_PATH)
    assert (refund_request.fault, refund_request.forwarded) == (fault, fault.forwards)
    assert len(stripe_server.refunds(payment_intent=payment.provider_reference)) == (1 if fault.forwards else 0)

    assert reconcile(db, payments).errors == 0

    db.refresh(first)
    if fault.forwards:
        [made] = stripe_server.refunds(payment_intent=payment.provider_reference)
        assert (first.status, first.provider_reference) == (RefundStatus.SUCCEEDED, made["id"])
    else:
        assert first.status == RefundStatus.PENDING
        with pytest.raises(RefundNotAllowed):
            refund_most_of_it()
        db.rollback()
        assert reconcile(db, payments, now=past_lost_after(payments, first)).errors == 0
        db.refresh(first)
        assert first.status == RefundStatus.FAILED
    events.deliver_twice_latest_first([payment.provider_reference])

    if first.status == RefundStatus.FAILED:
        # Told nothing was given back, staff refund once more.
        assert refund_most_of_it().status == RefundStatus.SUCCEEDED
    with pytest.raises(RefundNotAllowed):
        refund_most_of_it()
    db.rollback()
    events.deliver_twice_latest_first([payment.provider_reference])
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)
    assert attention_flags(db, payer.company) == []
    assert (invoice.amount_paid, invoice.amount_due) == (100_00, 150_00)
    assert [refund["amount"] for refund in stripe_server.refunds(payment_intent=payment.provider_reference)] == [150_00]


# --- A charge given up for lost that reaches Stripe after all -------------------------------------


def resend_as_the_portal_did(api, payer: Payer, payment: Payment, attempt: str, company: Company) -> str:
    """The charge request the portal made for `payment`, reaching localstripe only now; returns the intent id."""
    params = {"amount": payment.amount, "currency": payment.currency.lower(), "payment_method": payer.card_of(attempt),
              "payment_method_types": ["card"], "confirm": True,
              "metadata": {"payment_id": str(payment.id), "payment_key": payment.idempotency_key,
                           "company_ref": company.external_ref}}
    if payer.customer:
        params["customer"] = payer.customer
    return api.v1.payment_intents.create(params, {"idempotency_key": payment.idempotency_key}).id


@pytest.mark.parametrize("call", CHARGE_CALLS)
def test_a_charge_given_up_for_lost_that_is_made_after_all_is_kept_and_flagged(
        db, make, payments, fault_proxy, stripe_server, stripe_api, events, payer_for, call):
    payer = payer_for(call)
    fault_proxy.fail_next(Fault.DROP_BEFORE_FORWARD, path=f"^{CHARGE_PATH}$")
    first = payer.pay("first")
    assert reconcile(db, payments, now=past_lost_after(payments, first)).errors == 0
    db.refresh(first)
    assert first.status == PaymentStatus.FAILED
    assert payer.pay("second").status == PaymentStatus.SUCCEEDED

    # The dropped request was held up on the way, not lost: Stripe charges it now, and says so.
    late = resend_as_the_portal_did(stripe_api, payer, first, "first", payer.company)
    events.deliver_twice_latest_first(succeeded_intent_ids(stripe_server, payer.company))

    db.refresh(first)
    assert (first.status, first.provider_reference, first.attention) == (
        PaymentStatus.SUCCEEDED, late, PaymentAttention.LATE_SUCCESS)
    # The invoices were paid by the second attempt: the late charge is a credit, not a second payment.
    assert (first.allocations, first.unallocated_amount) == ([], first.amount)
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)
    assert [(invoice.amount_paid, invoice.amount_due) for invoice in payer.invoices] == [
        (invoice.amount_total, 0) for invoice in payer.invoices]

    # The collections team gives it back; a second click is refused.
    staff = Actor.user(make.staff())
    assert refund_unallocated(db, payments, staff, payment_id=first.id, amount=first.amount).status == (
        RefundStatus.SUCCEEDED)
    with pytest.raises(RefundNotAllowed):
        refund_unallocated(db, payments, staff, payment_id=first.id, amount=1)
    db.rollback()
    assert [refund["amount"] for refund in stripe_server.refunds(payment_intent=late)] == [first.amount]
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)


# --- A refund given up for lost that reaches Stripe after all -------------------------------------


def give_back_as_the_portal_asked(api, payment: Payment, refund: Refund) -> None:
    """The refund request the portal made for `refund`, reaching localstripe only now."""
    api.v1.refunds.create(
        {"payment_intent": payment.provider_reference, "amount": refund.amount,
         "metadata": {"refund_id": str(refund.id), "refund_key": refund.idempotency_key,
                      "payment_id": str(payment.id)}},
        {"idempotency_key": refund.idempotency_key})


@pytest.mark.parametrize(("call", "share"), [("one_invoice", 0), ("three_invoices", 0)],
                         ids=["one_invoice", "three_invoices"])
def test_a_refund_given_up_for_lost_that_is_made_after_all_is_recorded_and_flagged(
        db, make, payments, fault_proxy, stripe_server, stripe_api, events, payer_for, call, share):
    payer = payer_for(call)
    payment = payer.pay("paid")
    allocation = sorted(payment.allocations, key=lambda allocation: allocation.invoice_id)[share]
    staff = Actor.user(make.staff())

    def refund_part() -> Refund:
        # Within the share, and the two of them within what the charge took (real Stripe refuses more).
        return refund_allocation(db, payments, staff, payment_id=payment.id, allocation_id=allocation.id,
                                 amount=allocation.amount * 2 // 5, reason="Returned goods")

    fault_proxy.fail_next(Fault.DROP_BEFORE_FORWARD, path=f"^{REFUND_PATH}$")
    first = refund_part()
    assert reconcile(db, payments, now=past_lost_after(payments, first)).errors == 0
    db.refresh(first)
    assert first.status == RefundStatus.FAILED
    # Told nothing was given back, staff refund once more.
    assert refund_part().status == RefundStatus.SUCCEEDED

    # The dropped request was held up on the way, not lost: Stripe makes that refund now.
    give_back_as_the_portal_asked(stripe_api, payment, first)
    assert reconcile(db, payments, now=past_lost_after(payments, first) + timedelta(hours=1)).errors == 0
    events.deliver_twice_latest_first([payment.provider_reference])

    assert len(stripe_server.refunds(payment_intent=payment.provider_reference)) == 2
    db.refresh(first)
    db.refresh(payment)
    assert (first.status, payment.attention) == (RefundStatus.SUCCEEDED, PaymentAttention.LATE_REFUND)
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)


def test_a_refund_made_after_all_beyond_an_invoice_s_share_is_recorded_and_flagged(
        db, make, payments, fault_proxy, stripe_server, stripe_api, events, payer_for):
    payer = payer_for("three_invoices")
    payment = payer.pay("paid")
    allocation = min(payment.allocations, key=lambda allocation: allocation.amount)
    staff = Actor.user(make.staff())

    def refund_most_of_the_share() -> Refund:
        # Twice this is more than the invoice's share, yet well within what the charge took:
        # real Stripe would make both.
        return refund_allocation(db, payments, staff, payment_id=payment.id, allocation_id=allocation.id,
                                 amount=allocation.amount * 4 // 5, reason="Returned goods")

    fault_proxy.fail_next(Fault.DROP_BEFORE_FORWARD, path=f"^{REFUND_PATH}$")
    first = refund_most_of_the_share()
    assert reconcile(db, payments, now=past_lost_after(payments, first)).errors == 0
    assert refund_most_of_the_share().status == RefundStatus.SUCCEEDED
    give_back_as_the_portal_asked(stripe_api, payment, first)
    assert sum(refund["amount"] for refund in stripe_server.refunds(payment_intent=payment.provider_reference)) < (
        payment.amount)

    report = reconcile(db, payments, now=past_lost_after(payments, first) + timedelta(hours=1))

    assert report.errors == 0
    db.refresh(first)
    db.refresh(payment)
    assert (first.status, payment.attention) == (RefundStatus.SUCCEEDED, PaymentAttention.LATE_REFUND)
    # The invoice cannot give back more than it received: the refund counts against the payment.
    assert first.allocation is None
    assert_localstripe_and_ledger_agree(db, stripe_server, payer.company, payer.invoices)


class MisreportingGateway:
    """The real gateway, except that it reports one payment's charge under another charge's id."""

    def __init__(self, gateway, payment_key: str, reference: str):
        self._gateway = gateway
        self._payment_key = payment_key
        self._reference = reference

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def find_charge(self, *, payment_key, made_after):
        charge = self._gateway.find_charge(payment_key=payment_key, made_after=made_after)
        if payment_key == self._payment_key and charge is not None:
            return dataclasses.replace(charge, reference=self._reference)
        return charge


def test_reconcile_goes_on_past_a_payment_whose_settling_the_database_refuses(db, payments, fault_proxy,
                                                                              stripe_server, payer_for):
    payer = payer_for("three_invoices")
    settled, puzzling, lost = ([invoice] for invoice in payer.invoices)
    paid = payer.pay("paid", settled)
    fault_proxy.fail_next(Fault.FORWARD_THEN_500, path=f"^{CHARGE_PATH}$", times=2)
    first, second = payer.pay("puzzling", puzzling), payer.pay("lost", lost)
    assert (first.status, second.status) == (PaymentStatus.PROCESSING, PaymentStatus.PROCESSING)
    # Stripe reports the first under the id of a charge already recorded: no row may hold it twice.
    misreporting = MisreportingGateway(payments.gateway, first.idempotency_key, paid.provider_reference)

    report = reconcile(db, dataclasses.replace(payments, gateway=misreporting))

    assert (report.errors, report.settled) == (1, 1)
    db.refresh(first)
    db.refresh(second)
    assert (first.status, second.status) == (PaymentStatus.PROCESSING, PaymentStatus.SUCCEEDED)
    assert held_claims(db, payer.invoices) == {puzzling[0].id: first.id}
