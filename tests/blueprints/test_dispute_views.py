"""Disputes through HTTP: the customer raises and follows one, the collections team answers and resolves it.

Every page works as plain forms and links; the thread is also swapped in place by htmx
(posting a message, polling), so those routes are tested with and without HX-Request.
"""

import io
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal.models import CreditNote, Dispute, DisputeMessage, Role
from tests.blueprints.conftest import set_language
from tests.blueprints.pages import listed_invoice_numbers, page, table_rows, visible_text
from tests.builders import PDF_BYTES, Builders

pytestmark = pytest.mark.usefixtures("english")

HTMX = {"HX-Request": "true"}
HISTORY_RESTORE = {"HX-Request": "true", "HX-History-Restore-Request": "true"}


@pytest.fixture
def sign_in(app, db):
    """A client of its own for `user`, signed in through the real form, reading English pages."""

    def client_for(user, language: str = "en"):
        client = app.test_client()
        set_language(client, language)
        response = client.post("/login", data={"email": user.email, "password": Builders.PASSWORD})
        assert response.status_code == 303, response.get_data(as_text=True)
        return client

    return client_for


@pytest.fixture
def alpha(make):
    company = make.company(name="Alpha Widgets SAS", ref="CUST-ALPHA", locale="en")
    return SimpleNamespace(
        company=company,
        payer=make.user(company, role=Role.PAYER, email="payer@alpha.test"),
        viewer=make.user(company, role=Role.VIEWER, email="viewer@alpha.test"),
        invoice=make.invoice(company, number="INV-A-100", total=100_00),
    )


@pytest.fixture
def staff(make):
    return make.staff(email="collections@supplier.test", locale="en")


@pytest.fixture
def context(app):
    from portal.blueprints.app_services import services

    with app.app_context():
        return services().disputes


@pytest.fixture
def open_dispute(make, context, alpha):
    dispute = make.dispute(context, alpha.invoice, alpha.payer, amount=30_00, message="We were charged twice.",
                           files=(("delivery-note.pdf", PDF_BYTES),))
    make.session.commit()
    return dispute


def raise_form(**changes) -> dict:
    return {"reason": "wrong_price", "scope": "amount", "amount": "30.00",
            "message": "Line 1 is priced at 100, our order says 70.", **changes}


def disputes_in(db) -> list[Dispute]:
    db.expire_all()
    return db.scalars(select(Dispute).order_by(Dispute.id)).all()


def thread_bodies(response) -> list[str]:
    return [item.find("div", class_="body").text for item in page(response).find_all("li", class_="message")]


# The customer raises a dispute -----------------------------------------------------------------


def test_a_payer_disputes_part_of_an_invoice_with_plain_forms(db, sign_in, alpha):
    client = sign_in(alpha.payer)

    detail = client.get(f"/invoices/{alpha.invoice.id}")
    assert page(detail).find("a", href=f"/invoices/{alpha.invoice.id}/disputes/new").text == "Dispute this invoice"
    form_page = client.get(f"/invoices/{alpha.invoice.id}/disputes/new")
    assert form_page.status_code == 200
    assert "Wrong price" in visible_text(form_page)

    response = client.post(f"/invoices/{alpha.invoice.id}/disputes/new", content_type="multipart/form-data",
                           data={**raise_form(), "attachments": (io.BytesIO(PDF_BYTES), "order-PO-77.pdf")})

    [dispute] = disputes_in(db)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/disputes/{dispute.id}"
    assert (dispute.status, dispute.disputed_amount, dispute.reason) == ("open", 30_00, "wrong_price")
    shown = client.get(f"/disputes/{dispute.id}")
    text = visible_text(shown)
    assert "Your dispute was sent to our collections team." in text
    assert "Dispute on invoice INV-A-100" in text
    assert "Amount disputed €30.00" in text and "Can be paid now €70.00" in text
    assert "Status: Under review" in text
    assert thread_bodies(shown) == ["Line 1 is priced at 100, our order says 70."]
    assert page(shown).find("ul", class_="attachments").text == "order-PO-77.pdf"

    detail = client.get(f"/invoices/{alpha.invoice.id}")
    assert page(detail).find("span", class_="badge").text == "Disputed"
    assert "Can be paid now €70.00" in visible_text(detail)
    assert page(detail).find("a", class_="primary").text == "Pay what is not disputed"
    assert not page(detail).find_all("a", href=f"/invoices/{alpha.invoice.id}/disputes/new")
    assert "Dispute raised — €30.00" in visible_text(detail)  # on the invoice's timeline


def test_the_invoice_list_shows_and_filters_disputed_invoices(db, make, sign_in, alpha, open_dispute):
    make.invoice(alpha.company, number="INV-A-200", total=50_00)
    make.session.commit()
    client = sign_in(alpha.payer)

    everything = client.get("/invoices")
    disputed = client.get("/invoices", query_string={"status": "disputed"}, headers=HTMX)

    statuses = {row[1]: row[-2] for row in table_rows(everything, "invoices")}  # (the first cell: a checkbox)
    assert statuses == {"INV-A-100": "Disputed", "INV-A-200": "Open"}
    assert "Disputed" in [option.text for option in page(everything).find("select", name="status").find_all("option")]
    assert listed_invoice_numbers(disputed) == ["INV-A-100"]


def test_the_invoice_list_offers_to_pay_only_invoices_with_something_undisputed(db, make, context, sign_in, alpha,
                                                                                open_dispute):
    wholly_disputed = make.invoice(alpha.company, number="INV-A-300", total=40_00)
    make.dispute(context, wholly_disputed, alpha.payer, amount=40_00, message="Never delivered.")
    make.session.commit()

    response = sign_in(alpha.payer).get("/invoices")

    offered = {box.attrs["aria-label"] for box in page(response).find_all("input", type="checkbox", name="invoice")}
    assert offered == {"Select INV-A-100 to pay"}  # €70.00 of it is not disputed; INV-A-300 is held back whole


def test_a_payer_disputes_chosen_invoice_lines(db, sign_in, alpha):
    client = sign_in(alpha.payer)
    [line] = alpha.invoice.lines

    response = client.post(f"/invoices/{alpha.invoice.id}/disputes/new",
                           data=raise_form(scope="lines", amount="", lines=str(line.id), reason="damaged"))

    assert response.status_code == 303
    [dispute] = disputes_in(db)
    assert (dispute.disputed_amount, [d.invoice_line_id for d in dispute.lines]) == (100_00, [line.id])


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"amount": "100.01"}, "amount", "That is more than what is still due on the invoice."),
    ({"amount": ""}, "amount", "Enter the amount you dispute."),
    ({"scope": "lines", "amount": ""}, "lines", "Tick the lines you dispute."),
    ({"reason": ""}, "reason", "Choose a reason."),
    ({"message": ""}, "message", "This field is required."),
])
def test_a_dispute_form_with_a_mistake_says_what_to_fix_and_records_nothing(db, sign_in, alpha, changes, field,
                                                                           message):
    client = sign_in(alpha.payer)

    response = client.post(f"/invoices/{alpha.invoice.id}/disputes/new", data=raise_form(**changes))

    assert response.status_code == 400
    assert message in visible_text(response)
    assert disputes_in(db) == []


def test_an_invoice_already_disputed_leads_to_its_dispute(sign_in, alpha, open_dispute):
    client = sign_in(alpha.payer)

    response = client.get(f"/invoices/{alpha.invoice.id}/disputes/new")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/disputes/{open_dispute.id}"


def test_a_paid_invoice_offers_no_dispute(db, make, sign_in, alpha):
    make.payment(alpha.invoice, 100_00)
    make.session.commit()
    client = sign_in(alpha.payer)

    assert not page(client.get(f"/invoices/{alpha.invoice.id}")).find_all(
        "a", href=f"/invoices/{alpha.invoice.id}/disputes/new")
    form_page = client.get(f"/invoices/{alpha.invoice.id}/disputes/new")
    assert "Nothing is due on this invoice any more" in visible_text(form_page)
    assert not page(form_page).find_all("form", class_="card")
    assert client.post(f"/invoices/{alpha.invoice.id}/disputes/new", data=raise_form()).status_code == 409
    assert disputes_in(db) == []


def test_a_viewer_cannot_raise_a_dispute(db, sign_in, alpha):
    client = sign_in(alpha.viewer)

    detail = client.get(f"/invoices/{alpha.invoice.id}")
    form_page = client.get(f"/invoices/{alpha.invoice.id}/disputes/new")
    posted = client.post(f"/invoices/{alpha.invoice.id}/disputes/new", data=raise_form())

    assert "Dispute this invoice" not in visible_text(detail)
    assert (form_page.status_code, posted.status_code) == (403, 403)
    assert "You are not allowed to do that." in visible_text(posted)
    assert disputes_in(db) == []


def test_a_viewer_reads_the_thread_but_cannot_write_or_withdraw(db, sign_in, alpha, open_dispute):
    client = sign_in(alpha.viewer)

    shown = client.get(f"/disputes/{open_dispute.id}")
    posted = client.post(f"/disputes/{open_dispute.id}/messages", data={"body": "Me too"})
    withdrawn = client.post(f"/disputes/{open_dispute.id}/withdraw")

    assert thread_bodies(shown) == ["We were charged twice."]
    assert not page(shown).find_all("form", class_="message-form")
    assert "Withdraw the dispute" not in visible_text(shown)
    assert (posted.status_code, withdrawn.status_code) == (403, 403)
    assert [d.status for d in disputes_in(db)] == ["open"]


# The thread, as a page and as an htmx partial ---------------------------------------------------


def test_the_dispute_page_is_a_full_page_and_its_thread_a_partial_for_htmx(sign_in, alpha, open_dispute):
    client = sign_in(alpha.payer)
    url = f"/disputes/{open_dispute.id}"

    full, partial, restored = client.get(url), client.get(url, headers=HTMX), client.get(url, headers=HISTORY_RESTORE)

    for response in (full, partial, restored):
        assert response.status_code == 200
        assert "HX-Request" in response.headers["Vary"]
        assert thread_bodies(response) == ["We were charged twice."]
    assert "<html" in full.get_data(as_text=True) and "<html" in restored.get_data(as_text=True)
    body = partial.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith(("{#", "<section"))
    thread = page(partial).find("section", id="thread")
    assert (thread.attrs["hx-get"], thread.attrs["hx-trigger"], thread.attrs["hx-swap"]) == (url, "every 10s",
                                                                                           "outerHTML")
    form = page(full).find("form", class_="message-form")
    assert (form.attrs["method"], form.attrs["action"], form.attrs["enctype"]) == (
        "post", f"{url}/messages", "multipart/form-data")
    assert (form.attrs["hx-post"], form.attrs["hx-target"]) == (f"{url}/messages", "#thread")


def test_posting_a_message_without_javascript_redirects_to_the_thread(db, sign_in, alpha, open_dispute):
    client = sign_in(alpha.payer)

    response = client.post(f"/disputes/{open_dispute.id}/messages", content_type="multipart/form-data",
                           data={"body": "Here is the order.", "attachments": (io.BytesIO(PDF_BYTES), "PO-77.pdf")})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/disputes/{open_dispute.id}#thread"
    shown = client.get(f"/disputes/{open_dispute.id}")
    assert thread_bodies(shown) == ["We were charged twice.", "Here is the order."]
    assert "PO-77.pdf" in page(shown).find("ol", class_="messages").text


def test_posting_a_message_with_htmx_answers_the_thread_partial(db, sign_in, alpha, open_dispute):
    client = sign_in(alpha.payer)

    response = client.post(f"/disputes/{open_dispute.id}/messages", data={"body": "Any news?"}, headers=HTMX)

    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert thread_bodies(response) == ["We were charged twice.", "Any news?"]
    assert db.scalar(select(func.count()).select_from(DisputeMessage)) == 2


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_an_empty_message_is_refused_and_says_why(db, sign_in, alpha, open_dispute, headers):
    client = sign_in(alpha.payer)

    response = client.post(f"/disputes/{open_dispute.id}/messages", data={"body": " "}, headers=headers)

    assert response.status_code == 400
    assert "This field is required." in visible_text(response)
    assert ("<html" in response.get_data(as_text=True)) is (not headers)
    assert db.scalar(select(func.count()).select_from(DisputeMessage)) == 1


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_withdrawn_dispute_takes_no_more_messages(db, sign_in, alpha, open_dispute, headers):
    client = sign_in(alpha.payer)

    withdrawn = client.post(f"/disputes/{open_dispute.id}/withdraw")
    posted = client.post(f"/disputes/{open_dispute.id}/messages", data={"body": "Hello?"}, headers=headers)
    shown = client.get(f"/disputes/{open_dispute.id}")

    assert withdrawn.status_code == 303
    assert posted.status_code == 409
    assert "This dispute is closed." in visible_text(posted)
    assert "Status: Withdrawn" in visible_text(shown)
    assert not page(shown).find_all("form", class_="message-form")
    assert "hx-trigger" not in page(shown).find("section", id="thread").attrs  # no more polling
    assert db.scalar(select(func.count()).select_from(DisputeMessage)) == 1


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_clerk_of_another_company_can_neither_see_nor_write_on_the_dispute(db, make, sign_in, alpha, open_dispute,
                                                                            headers):
    other = make.company(name="Bravo Holdings", locale="en")
    outsider = make.user(other, role=Role.ADMIN)
    make.session.commit()
    client = sign_in(outsider)
    base = f"/disputes/{open_dispute.id}"
    attachment_id = open_dispute.messages[0].attachments[0].id

    answers = [
        client.get(base, headers=headers),
        client.post(f"{base}/messages", data={"body": "Let me in"}, headers=headers),
        client.post(f"{base}/withdraw", headers=headers),
        client.get(f"{base}/attachments/{attachment_id}", headers=headers),
        client.get(f"/invoices/{alpha.invoice.id}/disputes/new", headers=headers),
    ]

    for response in answers:
        assert response.status_code == 404
        assert "We could not find that page." in visible_text(response)
        assert "charged twice" not in response.get_data(as_text=True)
    assert [d.status for d in disputes_in(db)] == ["open"]
    assert db.scalar(select(func.count()).select_from(DisputeMessage)) == 1
    assert "INV-A-100" not in visible_text(client.get("/disputes"))


def test_the_customers_disputes_are_listed(sign_in, alpha, open_dispute):
    response = sign_in(alpha.viewer).get("/disputes")

    assert table_rows(response, "disputes") == [[
        open_dispute.created_at.strftime("%b %-d, %Y"), "INV-A-100", "Wrong price", "€30.00", "Under review"]]


# The collections team ----------------------------------------------------------------------------


def test_the_queue_shows_active_disputes_oldest_or_largest_first(db, make, context, sign_in, alpha, staff):
    from datetime import timedelta

    old_small = make.dispute(context, make.invoice(alpha.company, number="INV-OLD", total=90_00), alpha.payer,
                             amount=5_00)
    old_small.created_at -= timedelta(days=12)
    make.dispute(context, make.invoice(alpha.company, number="INV-NEW", total=900_00), alpha.payer)
    make.session.commit()
    client = sign_in(staff)

    by_age, by_amount = client.get("/collections/disputes"), client.get("/collections/disputes?sort=amount")

    assert [row[1:] for row in table_rows(by_age, "dispute-queue")] == [
        ["12", "Alpha Widgets SAS", "INV-OLD", "Wrong price", "€5.00", "Under review"],
        ["0", "Alpha Widgets SAS", "INV-NEW", "Wrong price", "€900.00", "Under review"],
    ]
    assert [row[3] for row in table_rows(by_amount, "dispute-queue")] == ["INV-NEW", "INV-OLD"]
    assert client.get("/collections/disputes?sort=bogus").status_code == 200


def test_the_team_asks_for_more_the_customer_answers_and_a_credit_note_resolves_it(db, sign_in, alpha, staff,
                                                                                  open_dispute):
    team, customer = sign_in(staff), sign_in(alpha.payer)
    staff_url = f"/collections/disputes/{open_dispute.id}"

    staff_page = team.get(staff_url)
    assert "Alpha Widgets SAS (CUST-ALPHA)" in visible_text(staff_page)
    assert page(staff_page).find("input", name="amount").attrs["value"] == "30.00"
    asked = team.post(f"{staff_url}/messages", headers=HTMX, data={
        "body": "Which order number?", "ask_customer": "Send and ask the customer for more information"})
    assert asked.status_code == 200 and "<html" not in asked.get_data(as_text=True)
    assert "Status: Waiting for the customer" in visible_text(asked)
    assert "Status: Waiting for the customer" in visible_text(customer.get(f"/disputes/{open_dispute.id}"))

    answered = customer.post(f"/disputes/{open_dispute.id}/messages", data={"body": "PO-77."}, headers=HTMX)
    assert "Status: Under review" in visible_text(answered)
    assert thread_bodies(team.get(staff_url, headers=HTMX)) == [
        "We were charged twice.", "Which order number?", "PO-77."]

    credited = team.post(f"{staff_url}/credit", data={"amount": "30.00", "credit_note_number": "CN-2026-31",
                                                      "note": "Double charge confirmed."})
    assert credited.status_code == 303 and credited.headers["Location"] == staff_url
    [note] = db.scalars(select(CreditNote)).all()
    assert (note.number, note.amount, note.invoice_id) == ("CN-2026-31", 30_00, alpha.invoice.id)
    assert "Dispute accepted: credit note CN-2026-31 issued." in visible_text(team.get(staff_url))
    shown = customer.get(f"/disputes/{open_dispute.id}")
    assert "Status: Credited" in visible_text(shown)
    assert "Note from the collections team Double charge confirmed." in visible_text(shown)
    detail = visible_text(customer.get(f"/invoices/{alpha.invoice.id}"))
    assert "CN-2026-31" in detail and "Amount due €70.00" in detail
    assert "Dispute accepted with a credit note — €30.00" in detail


def test_the_team_rejects_a_dispute_with_its_reason(db, sign_in, alpha, staff, open_dispute):
    team = sign_in(staff)

    refused = team.post(f"/collections/disputes/{open_dispute.id}/reject", data={"reason": ""})
    rejected = team.post(f"/collections/disputes/{open_dispute.id}/reject",
                         data={"reason": "Both charges are for separate deliveries."})

    assert refused.status_code == 400
    assert rejected.status_code == 303
    assert [(d.status, d.resolution_note) for d in disputes_in(db)] == [
        ("rejected", "Both charges are for separate deliveries.")]
    payer = sign_in(alpha.payer)
    detail = payer.get(f"/invoices/{alpha.invoice.id}")
    assert page(detail).find("span", class_="badge").text == "Open"
    assert "Dispute rejected — €30.00" in visible_text(detail)
    closed = payer.get(f"/disputes/{open_dispute.id}")
    assert page(closed).find("a", class_="primary").text == "Pay this invoice"  # nothing is held back any more


@pytest.mark.parametrize(("form", "status", "message"), [
    ({"amount": "abc", "credit_note_number": "CN-1"}, 400, "Enter an amount such as 1234.56."),
    ({"amount": "30.01", "credit_note_number": "CN-1"}, 400, "A credit note cannot exceed the disputed amount."),
    ({"amount": "10.00", "credit_note_number": ""}, 400, "This field is required."),
])
def test_a_credit_the_dispute_does_not_allow_is_refused(db, sign_in, staff, open_dispute, form, status, message):
    response = sign_in(staff).post(f"/collections/disputes/{open_dispute.id}/credit", data=form)

    assert response.status_code == status
    assert message in visible_text(response)
    assert db.scalar(select(func.count()).select_from(CreditNote)) == 0
    assert [d.status for d in disputes_in(db)] == ["open"]


def test_the_staff_thread_polls_as_an_htmx_partial_and_is_a_page_otherwise(sign_in, staff, open_dispute):
    client = sign_in(staff)
    url = f"/collections/disputes/{open_dispute.id}"

    partial, full, restored = client.get(url, headers=HTMX), client.get(url), client.get(url, headers=HISTORY_RESTORE)

    assert "<html" not in partial.get_data(as_text=True)
    assert page(partial).find("section", id="thread").attrs["hx-get"] == url
    assert "<html" in full.get_data(as_text=True) and "<html" in restored.get_data(as_text=True)
    assert "Resolve" in visible_text(full)
    assert client.get("/collections/disputes/999999").status_code == 404


def test_staff_reply_without_javascript_redirects_and_the_customer_sees_it(db, sign_in, alpha, staff, open_dispute):
    response = sign_in(staff).post(f"/collections/disputes/{open_dispute.id}/messages", data={"body": "On it."})

    assert response.status_code == 303
    shown = sign_in(alpha.payer).get(f"/disputes/{open_dispute.id}")
    assert thread_bodies(shown) == ["We were charged twice.", "On it."]
    assert "Collections team" in page(shown).find("li", class_="from-staff").text
    assert staff.email not in shown.get_data(as_text=True)


def test_a_french_clerk_reads_the_dispute_in_french(db, make, context, sign_in):
    company = make.company(locale="fr")
    payer = make.user(company)
    invoice = make.invoice(company, total=100_00)
    dispute = make.dispute(context, invoice, payer, amount=30_00)
    make.session.commit()
    client = sign_in(payer, language="fr")

    text = visible_text(client.get(f"/disputes/{dispute.id}"))

    assert f"Litige sur la facture {invoice.number}" in text
    assert "Prix erroné" in text and "En cours d'examen" in text
    assert "Contestée" in visible_text(client.get(f"/invoices/{invoice.id}"))


def test_the_payment_page_offers_only_what_is_not_disputed(sign_in, alpha, open_dispute):
    response = sign_in(alpha.payer).get(f"/payments/new?invoice={alpha.invoice.id}")

    assert response.status_code == 200
    [row] = table_rows(response, "invoices")
    assert row[-1] == "€70.00 €30.00 disputed, not charged"
    assert page(response).find("td", **{"data-total": ""}).text == "€70.00"
