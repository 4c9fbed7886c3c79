"""The disputes domain through its functions: raising, the thread, resolving, and what a dispute holds back."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import clock
from portal.billing import payable
from portal.billing.history import invoice_timeline
from portal.billing.invoices import LineInput, create_invoice, issue_credit_note, void_invoice
from portal.billing.status import InvoiceStatus, invoice_status, status_expression
from portal.disputes import service
from portal.disputes.errors import DisputeConflict, DisputeNotFound, InvalidDispute, NotAllowed
from portal.disputes.service import DisputeClaim, QueueOrder
from portal.models import (
    AuditEvent,
    CreditNote,
    Dispute,
    DisputeMessage,
    DisputeStatus,
    Invoice,
    OutboxMessage,
)
from tests.builders import Builders

TODAY = clock.today()


def claim(amount=None, *, message="The price is not the one on our order.", reason="wrong_price", line_ids=()):
    return DisputeClaim(reason=reason, message=message, amount=amount, line_ids=tuple(line_ids))


def raise_on(db, context, user, invoice, amount=None, **kwargs):
    return service.raise_dispute(db, context, user, invoice=invoice, claim=claim(amount, **kwargs))


def sql_status(db, invoice):
    db.flush()
    return db.scalar(select(status_expression(TODAY)).where(Invoice.id == invoice.id))


def counts(db) -> tuple[int, int]:
    return (db.scalar(select(func.count()).select_from(Dispute)),
            db.scalar(select(func.count()).select_from(DisputeMessage)))


# Raising -------------------------------------------------------------------------------------------


def test_a_payer_disputes_all_that_is_due(db, make, context, customer):
    invoice = make.invoice(customer.company, total=10_000)

    dispute = raise_on(db, context, customer.payer, invoice)

    assert (dispute.status, dispute.disputed_amount, dispute.currency) == ("open", 10_000, "EUR")
    assert (dispute.company_id, dispute.raised_by_user_id, dispute.reason) == (
        customer.company.id, customer.payer.id, "wrong_price")
    [message] = dispute.messages
    assert (message.body, message.from_staff, message.author_user_id) == (
        "The price is not the one on our order.", False, customer.payer.id)
    assert payable.undisputed_amount_due(db, invoice) == 0
    assert invoice_status(invoice, TODAY) == InvoiceStatus.DISPUTED
    assert sql_status(db, invoice) == "disputed"


def test_an_admin_disputes_part_of_an_invoice_and_the_rest_stays_payable(db, make, context, customer):
    invoice = make.invoice(customer.company, total=10_000)

    dispute = raise_on(db, context, customer.admin, invoice, amount=3_000)

    assert dispute.disputed_amount == 3_000
    assert payable.undisputed_amount_due(db, invoice) == 7_000
    assert invoice.amount_due == 10_000


def test_chosen_invoice_lines_are_disputed_for_their_total_with_tax(db, make, context, customer):
    invoice = create_invoice(
        db, Builders.ACTOR, company=customer.company, number="INV-LINES", issue_date=TODAY, due_date=TODAY,
        currency="EUR", lines=[
            LineInput(description="Flour", quantity=Decimal(10), unit_amount=2_150, tax_rate=Decimal("5.5")),
            LineInput(description="Delivery", quantity=Decimal(1), unit_amount=2_500, tax_rate=Decimal(20)),
            LineInput(description="Oven part", quantity=Decimal(1), unit_amount=12_990, tax_rate=Decimal(20)),
        ],
    )
    flour, delivery, oven = invoice.lines

    dispute = raise_on(db, context, customer.payer, invoice, line_ids=[oven.id, delivery.id])

    assert dispute.disputed_amount == 3_000 + 15_588 == delivery.amount_total + oven.amount_total
    assert [(line.invoice_line_id, line.amount) for line in dispute.lines] == [
        (delivery.id, 3_000), (oven.id, 15_588)]
    assert payable.undisputed_amount_due(db, invoice) == flour.amount_total


def test_a_line_of_another_invoice_cannot_be_disputed(db, make, context, customer):
    invoice, other = make.invoice(customer.company), make.invoice(customer.company)

    with pytest.raises(InvalidDispute) as refused:
        raise_on(db, context, customer.payer, invoice, line_ids=[other.lines[0].id])

    assert refused.value.code == "unknown_line"
    assert counts(db) == (0, 0)


@pytest.mark.parametrize("amount", [0, -1, 7_001])
def test_nothing_and_more_than_is_still_due_cannot_be_disputed(db, make, context, customer, amount):
    invoice = make.invoice(customer.company, total=10_000)
    make.payment(invoice, 3_000)

    with pytest.raises(InvalidDispute) as refused:
        raise_on(db, context, customer.payer, invoice, amount=amount)

    assert refused.value.field == "amount"
    assert counts(db) == (0, 0)


def test_all_that_is_due_after_a_part_payment_is_what_remains(db, make, context, customer):
    invoice = make.invoice(customer.company, total=10_000)
    make.payment(invoice, 3_000)

    assert raise_on(db, context, customer.payer, invoice).disputed_amount == 7_000


@pytest.mark.parametrize("state", ["paid", "void"])
def test_a_paid_or_void_invoice_cannot_be_disputed(db, make, context, customer, state):
    invoice = make.invoice(customer.company, total=10_000)
    if state == "paid":
        make.payment(invoice, 10_000)
    else:
        void_invoice(db, Builders.ACTOR, invoice, "Sent twice")

    with pytest.raises(DisputeConflict) as refused:
        raise_on(db, context, customer.payer, invoice)

    assert refused.value.code == {"paid": "nothing_due", "void": "not_disputable"}[state]
    assert counts(db) == (0, 0)


def test_a_viewer_cannot_raise_a_dispute(db, make, context, customer):
    invoice = make.invoice(customer.company)

    with pytest.raises(NotAllowed):
        raise_on(db, context, customer.viewer, invoice)

    assert counts(db) == (0, 0)


def test_a_clerk_of_another_company_cannot_raise_a_dispute_on_the_invoice(db, make, context, customer):
    invoice = make.invoice(customer.company)
    outsider = make.user(make.company())

    with pytest.raises(DisputeNotFound):
        raise_on(db, context, outsider, invoice)

    assert counts(db) == (0, 0)


@pytest.mark.parametrize(("changes", "code"), [
    ({"reason": "because"}, "unknown_reason"),
    ({"message": "   "}, "empty"),
    ({"message": "x" * 5001}, "too_long"),
])
def test_a_dispute_needs_a_known_reason_and_a_message(db, make, context, customer, changes, code):
    invoice = make.invoice(customer.company)

    with pytest.raises(InvalidDispute) as refused:
        raise_on(db, context, customer.payer, invoice, **changes)

    assert refused.value.code == code
    assert counts(db) == (0, 0)


def test_an_invoice_has_at_most_one_dispute_in_progress(db, make, context, customer):
    invoice = make.invoice(customer.company, total=10_000)
    first = raise_on(db, context, customer.payer, invoice, amount=1_000)

    with pytest.raises(DisputeConflict) as refused:
        raise_on(db, context, customer.admin, invoice, amount=2_000)
    assert refused.value.code == "already_disputed"

    service.withdraw_dispute(db, context, customer.payer, first)
    second = raise_on(db, context, customer.admin, invoice, amount=2_000)
    assert service.active_dispute(db, invoice.id).id == second.id
    assert payable.undisputed_amount_due(db, invoice) == 8_000


def test_the_database_itself_refuses_a_second_active_dispute(db, make, customer):
    invoice = make.invoice(customer.company)

    def dispute(status):
        return Dispute(invoice_id=invoice.id, company_id=customer.company.id, raised_by_user_id=customer.payer.id,
                       reason="other", status=status, disputed_amount=100, currency="EUR")

    db.add_all([dispute(DisputeStatus.REJECTED), dispute(DisputeStatus.WITHDRAWN), dispute(DisputeStatus.OPEN)])
    db.flush()
    with pytest.raises(IntegrityError), db.begin_nested():
        db.add(dispute(DisputeStatus.AWAITING_CUSTOMER))
        db.flush()


# The thread and the resolutions ----------------------------------------------------------------


def test_the_whole_conversation_and_a_credit_note_are_on_the_invoice_timeline(db, make, context, customer, staff):
    invoice = make.invoice(customer.company, total=10_000)
    dispute = raise_on(db, context, customer.payer, invoice, amount=4_000)

    service.post_message(db, context, staff, dispute, body="Which delivery note?", ask_customer=True)
    assert dispute.status == "awaiting_customer"
    service.post_message(db, context, customer.admin, dispute, body="DN-2231, attached to your e-mail.")
    assert dispute.status == "open"
    service.post_message(db, context, staff, dispute, body="Thanks, checking with the warehouse.")
    assert dispute.status == "open"
    credit_note = service.accept_with_credit_note(db, context, staff, dispute, amount=4_000,
                                                  credit_note_number="CN-D-1", issue_date=TODAY,
                                                  note="Short delivery confirmed.")

    assert (dispute.status, dispute.credit_note_id, dispute.resolution_note) == (
        "resolved_credited", credit_note.id, "Short delivery confirmed.")
    assert dispute.resolved_at is not None
    assert (credit_note.amount, credit_note.invoice_id, credit_note.reason) == (4_000, invoice.id,
                                                                                "Short delivery confirmed.")
    assert (invoice.amount_credited, invoice.amount_due) == (4_000, 6_000)
    assert payable.undisputed_amount_due(db, invoice) == 6_000
    assert [(m.from_staff, m.body) for m in service.thread(db, dispute)] == [
        (False, "The price is not the one on our order."), (True, "Which delivery note?"),
        (False, "DN-2231, attached to your e-mail."), (True, "Thanks, checking with the warehouse."),
    ]
    events = [(event.action, event.amount, event.actor_label) for event in invoice_timeline(db, invoice)]
    assert events == [
        ("invoice.created", 10_000, "system:tests"),
        ("invoice.issued", 10_000, "system:tests"),
        ("dispute.raised", 4_000, customer.payer.email),
        ("dispute.information_requested", None, staff.email),
        ("dispute.answered", None, customer.admin.email),
        ("dispute.message", None, staff.email),
        ("credit_note.applied", 4_000, staff.email),
        ("dispute.credited", 4_000, staff.email),
    ]
    db.expire(invoice, ["disputes"])
    assert invoice_status(invoice, TODAY) != InvoiceStatus.DISPUTED
    assert sql_status(db, invoice) != "disputed"


def test_a_credit_note_for_less_than_disputed_closes_the_dispute_and_the_rest_is_due_again(
        db, make, context, customer, staff):
    invoice = make.invoice(customer.company, total=10_000)
    dispute = raise_on(db, context, customer.payer, invoice, amount=4_000)

    service.accept_with_credit_note(db, context, staff, dispute, amount=1_500, credit_note_number="CN-D-2",
                                    issue_date=TODAY)

    assert dispute.status == "resolved_credited"
    assert payable.undisputed_amount_due(db, invoice) == invoice.amount_due == 8_500


@pytest.mark.parametrize(("amount", "number", "code"), [
    (4_001, "CN-NEW", "credit_above_disputed"),
    (0, "CN-NEW", "amount_not_positive"),
    (1_000, "CN-TAKEN", "credit_note_number_taken"),
    (1_000, "  ", "empty"),
])
def test_a_credit_note_beyond_the_dispute_or_under_a_taken_number_is_refused(
        db, make, context, customer, staff, amount, number, code):
    invoice = make.invoice(customer.company, total=10_000)
    issue_credit_note(db, Builders.ACTOR, invoice=make.invoice(customer.company), number="CN-TAKEN", amount=100,
                      issue_date=TODAY)
    dispute = raise_on(db, context, customer.payer, invoice, amount=4_000)

    with pytest.raises(InvalidDispute) as refused:
        service.accept_with_credit_note(db, context, staff, dispute, amount=amount, credit_note_number=number,
                                        issue_date=TODAY)

    assert refused.value.code == code
    assert dispute.status == "open"
    assert invoice.amount_credited == 0


def test_a_rejected_dispute_gives_back_the_held_amount_with_the_reason(db, make, context, customer, staff):
    invoice = make.invoice(customer.company, total=10_000, due_date=TODAY - timedelta(days=3),
                           issue_date=TODAY - timedelta(days=33))
    dispute = raise_on(db, context, customer.payer, invoice, amount=4_000)
    assert sql_status(db, invoice) == "disputed"

    service.reject_dispute(db, context, staff, dispute, reason="The price list of March applies.")

    assert (dispute.status, dispute.resolution_note) == ("rejected", "The price list of March applies.")
    assert payable.undisputed_amount_due(db, invoice) == 10_000
    assert sql_status(db, invoice) == "overdue"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "dispute.rejected"))
    assert (event.amount, event.invoice_id, event.details["reason"]) == (4_000, invoice.id,
                                                                          "The price list of March applies.")


def test_a_rejection_needs_a_reason(db, make, context, customer, staff):
    dispute = raise_on(db, context, customer.payer, make.invoice(customer.company))

    with pytest.raises(InvalidDispute):
        service.reject_dispute(db, context, staff, dispute, reason=" ")

    assert dispute.status == "open"


def test_the_customer_can_withdraw_a_dispute(db, make, context, customer):
    invoice = make.invoice(customer.company, total=10_000)
    dispute = raise_on(db, context, customer.payer, invoice, amount=4_000)

    service.withdraw_dispute(db, context, customer.admin, dispute)

    assert dispute.status == "withdrawn"
    assert payable.undisputed_amount_due(db, invoice) == 10_000
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "dispute.withdrawn")).all()
    assert (event.actor_user_id, event.amount) == (customer.admin.id, 4_000)


@pytest.mark.parametrize("close", ["withdraw", "reject", "credit"])
def test_a_closed_dispute_takes_no_more_messages_or_decisions(db, make, context, customer, staff, close):
    dispute = raise_on(db, context, customer.payer, make.invoice(customer.company, total=10_000), amount=1_000)
    {
        "withdraw": lambda: service.withdraw_dispute(db, context, customer.payer, dispute),
        "reject": lambda: service.reject_dispute(db, context, staff, dispute, reason="No."),
        "credit": lambda: service.accept_with_credit_note(db, context, staff, dispute, amount=1_000,
                                                          credit_note_number="CN-C", issue_date=TODAY),
    }[close]()
    status = dispute.status

    for step in (
        lambda: service.post_message(db, context, customer.payer, dispute, body="Hello?"),
        lambda: service.post_message(db, context, staff, dispute, body="Hello?"),
        lambda: service.withdraw_dispute(db, context, customer.payer, dispute),
        lambda: service.reject_dispute(db, context, staff, dispute, reason="No."),
        lambda: service.accept_with_credit_note(db, context, staff, dispute, amount=1_000,
                                                credit_note_number="CN-C2", issue_date=TODAY),
    ):
        with pytest.raises(DisputeConflict) as refused:
            step()
        assert refused.value.code == "closed"
    assert dispute.status == status
    assert len(service.thread(db, dispute)) == 1


def test_only_the_collections_team_resolves_or_asks_for_more(db, make, context, customer):
    dispute = raise_on(db, context, customer.payer, make.invoice(customer.company))

    for step in (
        lambda: service.accept_with_credit_note(db, context, customer.admin, dispute, amount=100,
                                                credit_note_number="CN-X", issue_date=TODAY),
        lambda: service.reject_dispute(db, context, customer.admin, dispute, reason="Never mind"),
        lambda: service.post_message(db, context, customer.admin, dispute, body="Me?", ask_customer=True),
    ):
        with pytest.raises(NotAllowed):
            step()
    assert dispute.status == "open"
    assert db.scalar(select(func.count()).select_from(CreditNote)) == 0


def test_a_viewer_reads_but_does_not_write_on_the_thread(db, make, context, customer):
    dispute = raise_on(db, context, customer.payer, make.invoice(customer.company))

    with pytest.raises(NotAllowed):
        service.post_message(db, context, customer.viewer, dispute, body="Me too")
    with pytest.raises(NotAllowed):
        service.withdraw_dispute(db, context, customer.viewer, dispute)


def test_a_clerk_of_another_company_can_neither_find_nor_write_on_a_dispute(db, make, context, customer):
    dispute = raise_on(db, context, customer.payer, make.invoice(customer.company))
    other = make.company()
    outsider = make.user(other)

    with pytest.raises(DisputeNotFound):
        service.find_customer_dispute(db, other.id, dispute.id)
    with pytest.raises(DisputeNotFound):
        service.post_message(db, context, outsider, dispute, body="Hi")
    with pytest.raises(DisputeNotFound):
        service.withdraw_dispute(db, context, outsider, dispute)
    assert service.find_customer_dispute(db, customer.company.id, dispute.id) is dispute


def test_without_a_collections_address_the_team_is_not_e_mailed_but_the_customer_is(db, make, context, customer,
                                                                                       staff):
    assert context.collections_email is None
    dispute = raise_on(db, context, customer.payer, make.invoice(customer.company))
    assert db.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    service.post_message(db, context, staff, dispute, body="Looking into it.")

    [email] = db.scalars(select(OutboxMessage)).all()
    assert email.recipients == ["payer@alpha.test", "ap@alpha.test", "controller@alpha.test"]


# The queue and what disputes hold back -----------------------------------------------------------


def test_the_queue_lists_active_disputes_oldest_or_largest_first(db, make, context, customer, staff):
    def raised(total, amount, days_ago):
        dispute = raise_on(db, context, customer.payer, make.invoice(customer.company, total=total), amount=amount)
        dispute.created_at = dispute.created_at - timedelta(days=days_ago)
        return dispute

    middle, old_small, new_large = raised(9_000, 2_000, 5), raised(9_000, 500, 20), raised(90_000, 50_000, 1)
    tied_older_larger = raised(9_000, 3_000, 5)
    tied_older_larger.created_at = middle.created_at
    closed = raised(9_000, 9_000, 30)
    service.reject_dispute(db, context, staff, closed, reason="No.")
    db.flush()

    by_age = service.dispute_queue(db, order=QueueOrder.AGE)
    by_amount = service.dispute_queue(db, order=QueueOrder.AMOUNT)

    assert [d.id for d in by_age] == [old_small.id, tied_older_larger.id, middle.id, new_large.id]
    assert [d.id for d in by_amount] == [new_large.id, tied_older_larger.id, middle.id, old_small.id]


def test_the_undisputed_amount_due_is_the_same_in_sql(db, make, context, customer, staff):
    company = customer.company
    plain = make.invoice(company, total=5_000)
    part = make.invoice(company, total=10_000)
    raise_on(db, context, customer.payer, part, amount=2_500)
    whole = make.invoice(company, total=7_000)
    raise_on(db, context, customer.payer, whole)
    paid_then_disputed = make.invoice(company, total=8_000)
    raise_on(db, context, customer.payer, paid_then_disputed, amount=3_000)
    make.payment(paid_then_disputed, 8_000)  # a bank transfer can settle what the portal held back
    rejected = make.invoice(company, total=6_000)
    service.reject_dispute(db, context, staff, raise_on(db, context, customer.payer, rejected), reason="No.")
    void = make.invoice(company, total=4_000)
    void_invoice(db, Builders.ACTOR, void, "Duplicate")
    draft = make.invoice(company, total=3_000, issue=False)
    invoices = [plain, part, whole, paid_then_disputed, rejected, void, draft]
    db.flush()

    in_sql = dict(db.execute(select(Invoice.id, payable.undisputed_amount_due_expression())
                             .where(Invoice.company_id == company.id)).all())
    in_python = payable.undisputed_amounts_due(db, invoices)

    assert in_python == in_sql == {plain.id: 5_000, part.id: 7_500, whole.id: 0, paid_then_disputed.id: 0,
                                   rejected.id: 6_000, void.id: 0, draft.id: 0}
    assert dict(db.execute(select(Invoice.id, payable.disputed_amount_expression())
                           .where(Invoice.id.in_([plain.id, part.id, rejected.id]))).all()) == {
        plain.id: 0, part.id: 2_500, rejected.id: 0}


def test_a_disputed_invoice_stays_disputed_when_it_falls_overdue(db, make, context, customer):
    invoice = make.invoice(customer.company, total=10_000, issue_date=date(2025, 1, 1), due_date=date(2025, 1, 31))
    raise_on(db, context, customer.payer, invoice, amount=100)

    assert invoice_status(invoice, TODAY) == InvoiceStatus.DISPUTED
    assert sql_status(db, invoice) == "disputed"
