"""The clerk's documents through HTTP: Factur-X and credit notes, and the ZIP of the list's current selection."""

import io
import uuid
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from facturx import get_facturx_xml_from_pdf, xml_check_xsd
from pypdf import PdfReader

from portal import clock
from portal.billing.invoices import void_invoice
from portal.models import CustomFieldLabel
from tests.blueprints.pages import page, visible_text
from tests.builders import Builders

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def company(make):
    return make.company(name="Alpha Widgets SAS", ref="ALPHA", locale="en")


@pytest.fixture
def clerk_client(make, company, login_as):
    return login_as(make.user(company))


@pytest.fixture
def invoices(make, company):
    today = clock.today()
    made = [make.invoice(company, number=f"INV-Z-{n}", total=n * 1_000, tax_rate="20", po_number=po,
                         issue_date=today - timedelta(days=40 - n), due_date=today + timedelta(days=n))
            for n, po in ((1, "PO-1"), (2, "PO-2"), (3, "PO-1"), (4, "PO-1"))]
    make.invoice(make.company(), number="INV-OTHER-1", total=5_000, po_number="PO-1")
    make.session.commit()
    return made


def text_of(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def test_an_invoice_downloads_as_facturx_with_its_data_inside(invoices, clerk_client):
    response = clerk_client.get(f"/invoices/{invoices[1].id}/facturx")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="INV-Z-2-facturx.pdf"'
    filename, xml = get_facturx_xml_from_pdf(response.data, check_xsd=False)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert b"<ram:ID>INV-Z-2</ram:ID>" in xml


def test_a_void_invoice_offers_no_facturx_and_says_why(make, company, invoices, clerk_client):
    void_invoice(make.session, Builders.ACTOR, invoices[0], "Sent twice")
    make.session.commit()

    response = clerk_client.get(f"/invoices/{invoices[0].id}/facturx")

    assert response.status_code == 409
    assert "This invoice is void: download its PDF; it has no Factur-X to book." in visible_text(response)
    assert "Download as Factur-X" not in visible_text(clerk_client.get(f"/invoices/{invoices[0].id}"))


def test_a_credit_note_downloads_from_its_invoice_page(make, invoices, clerk_client):
    note = make.credit_note(invoices[3], 1_200)
    make.session.commit()
    hrefs = links_on(clerk_client.get(f"/invoices/{invoices[3].id}"))
    [pdf_link] = [href for href in hrefs if href.endswith(f"/credit-notes/{note.id}/pdf")]
    [facturx_link] = [href for href in hrefs if href.endswith(f"/credit-notes/{note.id}/facturx")]

    pdf = clerk_client.get(pdf_link)
    facturx = clerk_client.get(facturx_link)

    assert "CREDIT NOTE" in text_of(pdf.data) and "INV-Z-4" in text_of(pdf.data)
    assert facturx.headers["Content-Disposition"] == f'attachment; filename="{note.number}-facturx.pdf"'
    _, xml = get_facturx_xml_from_pdf(facturx.data, check_xsd=True)
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml


def test_the_custom_field_shows_its_label_on_the_invoice_page(make, company, clerk_client):
    invoice = make.invoice(company, number="INV-CF-1", custom_fields={"cost_centre": "CC-12"})
    make.session.add(CustomFieldLabel(field_key="cost_centre", locale="en", label="Cost centre"))
    make.session.commit()

    text = visible_text(clerk_client.get(f"/invoices/{invoice.id}"))

    assert "Cost centre CC-12" in text and "cost_centre" not in text


def links_on(response) -> list[str]:
    return [link.attrs.get("href", "") for link in page(response).find_all("a")]


def zip_links(response) -> dict[str, str]:
    links = [href for href in links_on(response) if "/invoices/download.zip" in href]
    return {parse_qs(urlsplit(href).query)["format"][0]: href for href in links}


@pytest.mark.parametrize("hx_request", [False, True], ids=["page", "htmx"])
def test_the_list_offers_a_zip_of_its_current_selection_in_each_format(invoices, clerk_client, hx_request):
    response = clerk_client.get("/invoices?po=PO-1&sort=amount&direction=asc",
                                headers={"HX-Request": "true"} if hx_request else {})

    links = zip_links(response)

    assert set(links) == {"pdf", "facturx"}
    for link in links.values():
        query = parse_qs(urlsplit(link).query)
        assert query["po"] == ["PO-1"] and query["sort"] == ["amount"] and query["direction"] == ["asc"]


def test_the_zip_holds_the_filtered_invoices_of_the_clerks_company_only_in_the_lists_order(invoices, clerk_client):
    links = zip_links(clerk_client.get("/invoices?po=PO-1&sort=amount&direction=desc"))

    response = clerk_client.get(links["facturx"])

    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="invoices-ALPHA-')
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == ["INV-Z-4-facturx.pdf", "INV-Z-3-facturx.pdf", "INV-Z-1-facturx.pdf"]
    for name in archive.namelist():
        _, xml = get_facturx_xml_from_pdf(archive.read(name), check_xsd=True)
        assert name.removesuffix("-facturx.pdf").encode() in xml


def test_the_zip_of_pdfs_follows_the_status_filter_and_puts_a_void_invoice_in_as_its_pdf(make, invoices, clerk_client):
    void_invoice(make.session, Builders.ACTOR, invoices[2], "Sent twice")
    make.session.commit()

    everything = zipfile.ZipFile(io.BytesIO(clerk_client.get("/invoices/download.zip?format=facturx").data))
    void_only = zipfile.ZipFile(io.BytesIO(clerk_client.get("/invoices/download.zip?status=void&format=pdf").data))

    assert sorted(everything.namelist()) == ["INV-Z-1-facturx.pdf", "INV-Z-2-facturx.pdf", "INV-Z-3.pdf",
                                             "INV-Z-4-facturx.pdf"]
    assert void_only.namelist() == ["INV-Z-3.pdf"]
    assert "Void" in text_of(void_only.read("INV-Z-3.pdf"))


@pytest.mark.parametrize("query", ["format=docx", "format=pdf&issued_from=yesterday", "format=pdf&amount_min=abc"])
def test_a_bad_zip_request_is_refused_not_failed(invoices, clerk_client, query):
    assert clerk_client.get(f"/invoices/download.zip?{query}").status_code == 400


def test_an_invoice_pdf_downloaded_again_is_not_drawn_again_and_a_browser_holding_it_gets_304(
        make, company, clerk_client, monkeypatch):
    from portal.billing import pdf

    # A number of its own: no earlier test of this process has drawn (and kept) this document.
    invoice = make.invoice(company, number=f"INV-KEPT-{uuid.uuid4().hex[:8]}", total=12_000)
    make.session.commit()
    drawn = []
    draw = pdf.render_document_pdf
    monkeypatch.setattr(pdf, "render_document_pdf", lambda document: drawn.append(document.number) or draw(document))
    url = f"/invoices/{invoice.id}/pdf"

    first = clerk_client.get(url)
    again = clerk_client.get(url)
    held = clerk_client.get(url, headers={"If-None-Match": first.headers["ETag"]})

    assert first.status_code == again.status_code == 200 and first.data == again.data
    assert first.headers["Cache-Control"] == "private, no-cache" and first.headers["ETag"] == again.headers["ETag"]
    assert (held.status_code, held.data) == (304, b"")
    assert drawn == [invoice.number]
    # A payment changes what the PDF shows: another version, drawn afresh, showing it.
    make.payment(invoice, 1_000)
    make.session.commit()
    paid = clerk_client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert paid.status_code == 200 and paid.headers["ETag"] != first.headers["ETag"]
    assert drawn == [invoice.number, invoice.number]
    assert "Already paid" in text_of(paid.data)
