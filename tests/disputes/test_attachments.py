"""Evidence files: what is kept (PDF, PNG, JPEG by their bytes, under a size cap, under a random key),
what is refused (and then leaves nothing behind), and who may download them."""

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.config import Settings
from portal.disputes.attachments import AttachmentStore, Upload, check_upload, display_name
from portal.disputes.errors import AttachmentRefused
from portal.models import Dispute, DisputeAttachment, DisputeMessage
from tests.blueprints.conftest import set_language
from tests.builders import PDF_BYTES, Builders
from tests.disputes.conftest import stored_files

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
MZ_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48
TEN_MEGABYTES = 10 * 1024 * 1024


# Checking one upload -----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "content_type"), [
    (PDF_BYTES, "application/pdf"), (PNG_BYTES, "image/png"), (JPEG_BYTES, "image/jpeg")])
def test_pdf_png_and_jpeg_are_recognised_by_their_bytes(data, content_type):
    checked = check_upload(Upload("evidence", io.BytesIO(data)), max_bytes=1000)

    assert (checked.content_type, checked.data) == (content_type, data)


@pytest.mark.parametrize(("data", "name"), [
    (ELF_BYTES, "x.pdf"), (MZ_BYTES, "invoice.pdf"), (b"<html><script>alert(1)</script>", "photo.png"),
    (b"%PD", "short.pdf"), (b"GIF89a", "scan.jpg"),
])
def test_other_content_is_refused_whatever_its_name(data, name):
    with pytest.raises(AttachmentRefused) as refused:
        check_upload(Upload(name, io.BytesIO(data)), max_bytes=1000)

    assert refused.value.code == "attachment_type"


def test_a_file_one_byte_over_the_cap_is_refused_without_reading_it_all():
    stream = io.BytesIO(PDF_BYTES + b"x" * 10_000)

    with pytest.raises(AttachmentRefused) as refused:
        check_upload(Upload("big.pdf", stream), max_bytes=len(PDF_BYTES) + 99)

    assert refused.value.code == "attachment_too_large"
    assert stream.tell() == len(PDF_BYTES) + 100
    assert check_upload(Upload("fits.pdf", io.BytesIO(PDF_BYTES)), max_bytes=len(PDF_BYTES)).data == PDF_BYTES


def test_an_empty_file_is_refused():
    with pytest.raises(AttachmentRefused) as refused:
        check_upload(Upload("empty.pdf", io.BytesIO(b"")), max_bytes=1000)

    assert refused.value.code == "attachment_empty"


@pytest.mark.parametrize(("given", "shown"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..\\..\\windows\\system32\\evil.pdf", "evil.pdf"),
    ("/absolute/path/report.PDF", "report.PDF"),
    ("delivery\x00note\r\n.pdf", "deliverynote.pdf"),
    ('a"b;c<d>.pdf', "a_b_c_d_.pdf"),
    ("scan.exe", "scan.exe.pdf"),
    ("", "attachment.pdf"),
    ("..", "attachment.pdf"),
    ("   .hidden.pdf", "hidden.pdf"),
    ("Bon de livraison n°12 – été.pdf", "Bon de livraison n°12 – été.pdf"),
])
def test_the_file_name_is_only_cleaned_up_for_display(given, shown):
    assert display_name(given, (".pdf",)) == shown


def test_a_very_long_name_keeps_its_extension():
    name = display_name("x" * 500 + ".jpeg", (".jpg", ".jpeg"))

    assert len(name) == 120 and name.endswith(".jpeg")


def test_the_store_names_files_by_random_keys_only(tmp_path):
    store = AttachmentStore(tmp_path)

    first, second = store.save(PDF_BYTES), store.save(PDF_BYTES)

    assert first != second and re.fullmatch(r"[0-9a-f]{64}", first)
    assert store.path(first) == tmp_path / first[:2] / first
    assert store.path(first).read_bytes() == PDF_BYTES
    for bad in ("../../etc/passwd", first.upper(), first + "/..", ""):
        with pytest.raises(ValueError):
            store.path(bad)


def test_the_defaults_are_ten_megabytes_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("ACQUIT_ATTACHMENT_DIR", raising=False)
    monkeypatch.delenv("ACQUIT_ATTACHMENT_MAX_BYTES", raising=False)

    config = Settings.from_environment().flask_config("/srv/acquit/instance")

    assert config["ACQUIT_ATTACHMENT_MAX_BYTES"] == TEN_MEGABYTES
    assert config["ACQUIT_ATTACHMENT_DIR"] == "/srv/acquit/instance/attachments"
    monkeypatch.setenv("ACQUIT_ATTACHMENT_DIR", "/var/lib/acquit/files")
    monkeypatch.setenv("ACQUIT_ATTACHMENT_MAX_BYTES", "2048")
    config = Settings.from_environment().flask_config("/srv/acquit/instance")
    assert (config["ACQUIT_ATTACHMENT_DIR"], config["ACQUIT_ATTACHMENT_MAX_BYTES"]) == ("/var/lib/acquit/files", 2048)


# Uploading through the pages ---------------------------------------------------------------------


@pytest.fixture
def invoice(make, customer):
    invoice = make.invoice(customer.company, number="INV-EVIDENCE", total=100_00)
    make.session.commit()
    return invoice


@pytest.fixture
def payer_client(login_as, client, customer):
    set_language(client, "en")
    return login_as(customer.payer)


def raise_with(client, invoice, filename, data, content_type="application/pdf"):
    return client.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "reason": "damaged", "scope": "all", "message": "Photos of the damaged pallets attached.",
        "attachments": (io.BytesIO(data), filename, content_type),
    })


def rows(db) -> tuple[int, int, int]:
    db.expire_all()
    return tuple(db.scalar(select(func.count()).select_from(model))
                 for model in (Dispute, DisputeMessage, DisputeAttachment))


@pytest.mark.parametrize(("filename", "data"), [
    ("x.pdf", ELF_BYTES), ("x.pdf", MZ_BYTES), ("setup.exe", MZ_BYTES), ("photo.jpg", b"#!/bin/sh\nrm -rf /\n"),
], ids=["elf-named-pdf", "mz-named-pdf", "mz", "script-named-jpg"])
def test_a_renamed_executable_is_refused_and_nothing_is_stored(app, db, payer_client, invoice, filename, data):
    response = raise_with(payer_client, invoice, filename, data)

    assert response.status_code == 400
    assert "Only PDF, PNG and JPEG files can be attached." in response.get_data(as_text=True)
    assert rows(db) == (0, 0, 0)
    assert stored_files(app) == []


def test_a_file_over_ten_megabytes_is_refused_and_nothing_is_stored(app, db, payer_client, invoice):
    response = raise_with(payer_client, invoice, "scan.pdf", PDF_BYTES + b"0" * (TEN_MEGABYTES + 1 - len(PDF_BYTES)))

    assert response.status_code == 400
    assert "A file is too large." in response.get_data(as_text=True)
    assert rows(db) == (0, 0, 0)
    assert stored_files(app) == []


def test_a_file_of_exactly_ten_megabytes_is_kept(app, db, payer_client, invoice):
    response = raise_with(payer_client, invoice, "scan.pdf", PDF_BYTES + b"0" * (TEN_MEGABYTES - len(PDF_BYTES)))

    assert response.status_code == 303
    [stored] = stored_files(app)
    assert stored.stat().st_size == TEN_MEGABYTES


def test_as_many_files_as_the_form_allows_each_near_the_limit_are_all_kept(app, db, payer_client, invoice):
    nearly_ten_megabytes = PDF_BYTES + b"0" * (TEN_MEGABYTES - 1024 - len(PDF_BYTES))
    response = payer_client.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "reason": "damaged", "scope": "all", "message": "Five scans of the delivery.",
        "attachments": [(io.BytesIO(nearly_ten_megabytes), f"scan-{n}.pdf") for n in range(1, 6)],
    })

    assert response.status_code == 303
    assert rows(db) == (1, 1, 5)


def test_a_request_larger_than_any_form_allows_is_refused_with_a_page(db, payer_client, invoice):
    response = payer_client.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "reason": "damaged", "scope": "all", "message": "Too much.",
        "attachments": [(io.BytesIO(PDF_BYTES + b"0" * TEN_MEGABYTES), f"scan-{n}.pdf") for n in range(1, 7)],
    })

    assert response.status_code == 413
    assert "What you sent is too large." in response.get_data(as_text=True)
    assert rows(db) == (0, 0, 0)


def test_one_bad_file_among_good_ones_keeps_them_all_out(app, db, payer_client, invoice):
    response = payer_client.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "reason": "damaged", "scope": "all", "message": "See attached.",
        "attachments": [(io.BytesIO(PDF_BYTES), "good.pdf"), (io.BytesIO(ELF_BYTES), "bad.pdf")],
    })

    assert response.status_code == 400
    assert rows(db) == (0, 0, 0)
    assert stored_files(app) == []


def test_a_path_traversal_name_is_stored_under_a_random_key_and_shown_cleaned_up(app, db, payer_client, invoice,
                                                                                 tmp_path):
    response = raise_with(payer_client, invoice, "../../etc/passwd.pdf", PDF_BYTES, content_type="text/html")

    assert response.status_code == 303
    [attachment] = db.scalars(select(DisputeAttachment)).all()
    assert (attachment.filename, attachment.content_type, attachment.size) == ("passwd.pdf", "application/pdf",
                                                                               len(PDF_BYTES))
    assert re.fullmatch(r"[0-9a-f]{64}", attachment.storage_key)
    folder = Path(app.config["ACQUIT_ATTACHMENT_DIR"])
    assert stored_files(app) == [folder / attachment.storage_key[:2] / attachment.storage_key]
    assert not any("passwd" in str(path) for path in tmp_path.rglob("*"))

    download = payer_client.get(f"/disputes/{attachment.message.dispute_id}/attachments/{attachment.id}")

    assert download.status_code == 200
    assert download.data == PDF_BYTES
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"] == "attachment; filename=passwd.pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in download.headers["Cache-Control"]


@pytest.mark.parametrize(("data", "declared", "stored_type"), [
    (PNG_BYTES, "application/x-msdownload", "image/png"), (JPEG_BYTES, "text/html", "image/jpeg")])
def test_images_are_served_as_what_their_bytes_are_not_what_the_browser_said(db, payer_client, invoice, data,
                                                                            declared, stored_type):
    assert raise_with(payer_client, invoice, "pallet", data, content_type=declared).status_code == 303
    [attachment] = db.scalars(select(DisputeAttachment)).all()

    download = payer_client.get(f"/disputes/{attachment.message.dispute_id}/attachments/{attachment.id}")

    assert download.headers["Content-Type"] == stored_type
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_a_refused_file_on_a_reply_leaves_the_thread_as_it_was(app, db, make, context, customer, payer_client,
                                                               invoice):
    dispute = make.dispute(context, invoice, customer.payer)
    make.session.commit()

    response = payer_client.post(f"/disputes/{dispute.id}/messages", content_type="multipart/form-data", data={
        "body": "And the invoice of the carrier.", "attachments": (io.BytesIO(ELF_BYTES), "carrier.pdf")})

    assert response.status_code == 400
    assert "Only PDF, PNG and JPEG files can be attached." in response.get_data(as_text=True)
    assert rows(db) == (1, 1, 0)
    assert stored_files(app) == []


def test_too_many_files_on_one_message_are_refused(app, db, payer_client, invoice):
    response = payer_client.post(f"/invoices/{invoice.id}/disputes/new", content_type="multipart/form-data", data={
        "reason": "damaged", "scope": "all", "message": "Photos.",
        "attachments": [(io.BytesIO(PNG_BYTES), f"photo-{n}.png") for n in range(6)],
    })

    assert response.status_code == 400
    assert "Attach at most 5 files to one message." in response.get_data(as_text=True)
    assert rows(db) == (0, 0, 0)
    assert stored_files(app) == []


# Who may download ----------------------------------------------------------------------------------


@pytest.fixture
def two_disputes(make, context, customer):
    """A dispute of the customer with a file, and one of another company with a file."""
    own = make.dispute(context, make.invoice(customer.company), customer.payer, files=(("ours.pdf", PDF_BYTES),))
    other_company = make.company(name="Bravo Holdings")
    theirs = make.dispute(context, make.invoice(other_company), make.user(other_company),
                          files=(("bravo-contract.pdf", PDF_BYTES + b"% Bravo secret\n"),))
    make.session.commit()
    return own, own.messages[0].attachments[0], theirs, theirs.messages[0].attachments[0]


def test_another_companys_attachment_url_answers_404(payer_client, two_disputes):
    own, own_file, theirs, their_file = two_disputes

    for url in (f"/disputes/{theirs.id}/attachments/{their_file.id}",
                f"/disputes/{own.id}/attachments/{their_file.id}",
                f"/disputes/{theirs.id}/attachments/{own_file.id}",
                f"/disputes/{own.id}/attachments/{own_file.id + 1000}"):
        response = payer_client.get(url)
        assert response.status_code == 404, url
        assert b"Bravo secret" not in response.data and b"%PDF" not in response.data
    assert payer_client.get(f"/disputes/{own.id}/attachments/{own_file.id}").data == PDF_BYTES


def test_every_clerk_of_the_company_and_the_staff_may_download_but_nobody_else(app, make, customer, two_disputes):
    own, own_file, theirs, their_file = two_disputes
    staff = make.staff()
    make.session.commit()

    def client_of(user):
        client = app.test_client()
        if user is not None:
            assert client.post("/login", data={"email": user.email, "password": Builders.PASSWORD}).status_code == 303
        return client

    customer_url = f"/disputes/{own.id}/attachments/{own_file.id}"
    staff_url = f"/collections/disputes/{theirs.id}/attachments/{their_file.id}"
    assert client_of(customer.viewer).get(customer_url).data == PDF_BYTES
    assert client_of(customer.admin).get(customer_url).data == PDF_BYTES
    assert client_of(staff).get(staff_url).data.endswith(b"Bravo secret\n")
    assert client_of(staff).get(f"/collections/disputes/{own.id}/attachments/{their_file.id}").status_code == 404
    assert client_of(None).get(customer_url).status_code == 302
    # A staff route does not exist for a customer's clerk.
    assert client_of(customer.payer).get(staff_url).status_code == 404
