"""A PAY NOW link reaches one invoice, expires, can be revoked, and shows a clear page when it can't be used."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous.encoding import base64_decode, base64_encode
from sqlalchemy import func, select

from portal.audit import Actor
from portal.billing.invoices import void_invoice
from portal.guest.errors import ExpiredPayLink, InvalidPayLink, RevokedPayLink
from portal.guest.links import revoke_pay_links
from portal.models import Payment

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def invoice(make):
    return make.invoice(make.company(locale="en"), number="INV-GUEST-1", total=12_345)


def test_a_link_names_its_invoice(db, pay_links, invoice):
    link = pay_links.link_for(invoice, now=NOW)
    assert pay_links.invoice_for(db, link.token, now=NOW) is invoice
    assert link.url == f"http://portal.test/pay/{link.token}"
    assert link.expires_at == NOW + timedelta(days=30)


def test_the_token_carries_no_secret_and_no_number(invoice, pay_links):
    token = pay_links.link_for(invoice, now=NOW).token
    assert invoice.number not in token and "12345" not in token


@pytest.mark.parametrize("position", [0, 5, -1, -10])
def test_a_flipped_byte_is_refused(db, pay_links, invoice, position):
    token = pay_links.link_for(invoice, now=NOW).token
    flipped = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1:] if position != -1 \
        else token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(InvalidPayLink):
        pay_links.invoice_for(db, flipped, now=NOW)


def test_a_change_to_the_spare_bits_of_the_last_character_is_refused_too(db, pay_links, invoice):
    token = pay_links.link_for(invoice, now=NOW).token
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The signature's 20 bytes fill 27 base64 characters: the last one's two low bits are spare.
    same_bits = alphabet[alphabet.index(token[-1]) ^ 1]
    with pytest.raises(InvalidPayLink):
        pay_links.invoice_for(db, token[:-1] + same_bits, now=NOW)


def test_a_link_expires(db, pay_links, invoice):
    token = pay_links.link_for(invoice, now=NOW).token
    assert pay_links.invoice_for(db, token, now=NOW + timedelta(days=29, hours=23)) is invoice
    with pytest.raises(ExpiredPayLink):
        pay_links.invoice_for(db, token, now=NOW + timedelta(days=30, seconds=1))


def test_revoking_stops_every_link_sent_so_far_but_not_new_ones(db, pay_links, invoice):
    old = pay_links.link_for(invoice, now=NOW).token
    revoke_pay_links(db, Actor.system("tests"), invoice)
    with pytest.raises(RevokedPayLink):
        pay_links.invoice_for(db, old, now=NOW)
    assert pay_links.invoice_for(db, pay_links.link_for(invoice, now=NOW).token, now=NOW) is invoice


def test_one_invoices_signature_does_not_make_another_invoices_link(db, make, pay_links, invoice):
    other = make.invoice(invoice.company, number="INV-GUEST-2", total=99_00)
    mine, theirs = pay_links.link_for(invoice, now=NOW).token, pay_links.link_for(other, now=NOW).token
    my_payload, my_signature = mine.rsplit(".", 1)
    their_payload, _ = theirs.rsplit(".", 1)
    [invoice_id, version, expires] = json.loads(base64_decode(my_payload))
    renamed = base64_encode(json.dumps([other.id, version, expires], separators=(",", ":"))).decode()
    assert invoice_id == invoice.id
    for spliced in (f"{their_payload}.{my_signature}", f"{renamed}.{my_signature}"):
        with pytest.raises(InvalidPayLink):
            pay_links.invoice_for(db, spliced, now=NOW)


def test_a_link_signed_with_another_secret_is_refused(db, invoice):
    from portal.guest.links import PayLinks

    forged = PayLinks("someone-else's-secret", "http://portal.test").link_for(invoice, now=NOW).token
    with pytest.raises(InvalidPayLink):
        PayLinks("test-secret-key-not-for-production", "http://portal.test").invoice_for(db, forged, now=NOW)


# --- What the holder of a link sees --------------------------------------------------------


def payments_count(db) -> int:
    return db.scalar(select(func.count()).select_from(Payment))


def test_the_page_shows_the_invoice_summary_and_nothing_of_the_portal(client, pay_links, invoice):
    page = client.get(f"/pay/{pay_links.link_for(invoice).token}?lang=en").get_data(as_text=True)
    assert "Pay invoice INV-GUEST-1" in page and "€123.45" in page
    assert "/invoices" not in page and "/payments/cards" not in page and "Sign out" not in page


@pytest.mark.parametrize("damage", ["flip", "truncate", "other-secret"])
def test_a_damaged_link_shows_a_clear_page_and_changes_nothing(db, client, pay_links, invoice, damage):
    token = pay_links.link_for(invoice).token
    if damage == "flip":
        token = token[:-3] + ("x" if token[-3] != "x" else "y") + token[-2:]
    elif damage == "truncate":
        token = token[:-6]
    else:
        from portal.guest.links import PayLinks

        token = PayLinks("another-secret", "http://portal.test").link_for(invoice).token
    before = payments_count(db)
    for response in (client.get(f"/pay/{token}?lang=en"), client.post(f"/pay/{token}?lang=en", data={})):
        assert response.status_code == 404
        assert "This payment link is not valid" in response.get_data(as_text=True)
    assert payments_count(db) == before


def test_an_expired_link_says_so(db, client, pay_links, invoice):
    token = pay_links.link_for(invoice, now=datetime.now(UTC) - timedelta(days=31)).token
    response = client.get(f"/pay/{token}?lang=en")
    assert response.status_code == 404
    assert "This payment link has expired" in response.get_data(as_text=True)


def test_a_revoked_link_says_so(db, client, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    revoke_pay_links(db, Actor.system("tests"), invoice)
    db.commit()
    response = client.get(f"/pay/{token}?lang=en")
    assert response.status_code == 404
    assert "This payment link no longer works" in response.get_data(as_text=True)


def test_a_void_invoice_says_there_is_nothing_to_pay(db, client, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    void_invoice(db, Actor.system("tests"), invoice, "duplicate")
    db.commit()
    page = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    assert "This invoice was cancelled" in page and "Pay €" not in page


def test_a_paid_invoice_says_when_it_was_paid(db, client, make, pay_links, invoice):
    token = pay_links.link_for(invoice).token
    make.payment(invoice, invoice.amount_due)
    db.commit()
    page = client.get(f"/pay/{token}?lang=en").get_data(as_text=True)
    assert "This invoice is paid" in page and "was paid on" in page


def test_the_pdf_of_the_link_invoice_only(client, pay_links, invoice):
    response = client.get(f"/pay/{pay_links.link_for(invoice).token}/pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert "INV-GUEST-1.pdf" in response.headers["Content-Disposition"]
