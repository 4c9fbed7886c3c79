"""The invoice as a PDF, drawn server-side in the customer's language."""

from functools import lru_cache
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from babel.support import Translations
from fpdf import FPDF

from portal.billing.money import to_decimal
from portal.billing.status import InvoiceStatus
from portal.models import Invoice

FONTS = Path(__file__).parent.parent / "fonts"
TRANSLATIONS = Path(__file__).parent.parent / "translations"


@lru_cache(maxsize=None)
def _translations(locale: str) -> Translations:
    return Translations.load(str(TRANSLATIONS), [locale])


def render_invoice_pdf(invoice: Invoice, *, status: InvoiceStatus, supplier_name: str, locale: str) -> bytes:
    """A one-document PDF of `invoice`: header, lines with tax, totals and amount due."""
    _ = _translations(locale).gettext

    def money(amount: int) -> str:
        # The narrow no-break space Babel puts in French amounts is missing from many PDF viewers' fallbacks.
        return format_currency(to_decimal(amount, invoice.currency), invoice.currency, locale=locale).replace(
            "\u202f", "\u00a0"
        )

    def day(value) -> str:
        return format_date(value, format="long", locale=locale)

    pdf = FPDF(format="A4")
    pdf.set_title(f"{_('Invoice')} {invoice.number}")
    pdf.set_author(supplier_name)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, supplier_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 9, f"{_('Invoice')} {invoice.number}", new_x="LMARGIN", new_y="NEXT")
    if status == InvoiceStatus.VOID:
        pdf.set_text_color(180, 30, 30)
        pdf.cell(0, 8, _("Void"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(2)

    pdf.set_font("DejaVu", "", 10)
    facts = [
        (_("Customer"), f"{invoice.company.name} ({invoice.company.external_ref})"),
        (_("Issue date"), day(invoice.issue_date)),
        (_("Due date"), day(invoice.due_date)),
    ]
    if invoice.po_number:
        facts.append((_("PO number"), invoice.po_number))
    facts += [(str(key), str(value)) for key, value in sorted(invoice.custom_fields.items())]
    for label, value in facts:
        pdf.cell(45, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    widths = (78, 20, 30, 18, 34)
    headings = (_("Description"), _("Quantity"), _("Unit price"), _("Tax"), _("Amount excl. tax"))
    pdf.set_font("DejaVu", "B", 9)
    for width, heading in zip(widths, headings):
        pdf.cell(width, 7, heading, border="B", align="L" if heading == headings[0] else "R")
    pdf.ln()
    pdf.set_font("DejaVu", "", 9)
    for line in invoice.lines:
        cells = (
            line.description,
            format_decimal(line.quantity.normalize(), locale=locale),
            money(line.unit_amount),
            f"{format_decimal(line.tax_rate, locale=locale)} %",
            money(line.amount_net),
        )
        for index, (width, text) in enumerate(zip(widths, cells)):
            pdf.cell(width, 6, _fit(pdf, text, width), align="L" if index == 0 else "R")
        pdf.ln()
    pdf.ln(3)

    totals = [
        (_("Total excl. tax"), invoice.amount_net),
        (_("Tax"), invoice.amount_tax),
        (_("Total incl. tax"), invoice.amount_total),
    ]
    if invoice.amount_paid:
        totals.append((_("Paid"), -invoice.amount_paid))
    if invoice.amount_credited:
        totals.append((_("Credited"), -invoice.amount_credited))
    amount_due = 0 if status == InvoiceStatus.VOID else invoice.amount_due
    totals.append((_("Amount due"), amount_due))
    for index, (label, amount) in enumerate(totals):
        is_last = index == len(totals) - 1
        pdf.set_font("DejaVu", "B" if is_last else "", 10)
        pdf.cell(sum(widths) - 40, 7, label, align="R")
        pdf.cell(40, 7, money(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Shorten `text` with an ellipsis so it fits in a cell `width` wide."""
    if pdf.get_string_width(text) <= width - 2:
        return text
    while text and pdf.get_string_width(text + "…") > width - 2:
        text = text[:-1]
    return text + "…"
