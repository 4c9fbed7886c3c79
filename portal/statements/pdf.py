"""The statement of account as a PDF, drawn like the invoice PDF (portal.billing.pdf): same fonts, same catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from babel.dates import format_date
from babel.numbers import format_currency

from portal.billing.documents import document_translations
from portal.billing.money import to_decimal
from portal.statements.account import AgingBucket, EntryKind, Statement

if TYPE_CHECKING:
    from portal.billing.pdf_fonts import DocumentPdf


def render_statement_pdf(statement: Statement, *, supplier_name: str, locale: str) -> bytes:
    """The statement as a PDF: balances, every entry of the period with a running balance, and aging."""
    # Imported when a statement is first drawn, as invoices' PDFs are (portal.billing.document_files).
    from portal.billing.pdf_fonts import DocumentPdf

    _ = document_translations(locale).gettext

    def money(amount: int) -> str:
        # As on invoices: the narrow no-break space is missing from many PDF viewers' fallback fonts.
        return format_currency(to_decimal(amount, statement.currency), statement.currency,
                               locale=locale).replace("\u202f", "\u00a0")

    def day(value) -> str:
        return format_date(value, format="medium", locale=locale)

    kinds = {EntryKind.INVOICE: _("Invoice"), EntryKind.PAYMENT: _("Payment"), EntryKind.REFUND: _("Refund"),
             EntryKind.CREDIT_NOTE: _("Credit note")}
    buckets = {AgingBucket.CURRENT: _("Not yet due"), AgingBucket.DAYS_1_30: _("1–30 days late"),
               AgingBucket.DAYS_31_60: _("31–60 days late"), AgingBucket.DAYS_61_90: _("61–90 days late"),
               AgingBucket.OVER_90: _("Over 90 days late")}
    company = statement.company

    pdf = DocumentPdf()
    title = _("Statement of account")
    pdf.set_title(f"{title} {company.external_ref} {statement.start.isoformat()} {statement.end.isoformat()}")
    pdf.set_author(supplier_name)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    pdf.set_font("DejaVu", "B", 18)
    pdf.cell(0, 10, supplier_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for label, value in ((_("Customer"), f"{company.name} ({company.external_ref})"),
                         (_("Period"), f"{day(statement.start)} – {day(statement.end)}"),
                         (_("Currency"), statement.currency)):
        pdf.cell(45, 6, label)
        pdf.cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    widths = (24, 28, 56, 26, 26, 30)
    headings = (_("Date"), _("Entry"), _("Reference"), _("Debit"), _("Credit"), _("Balance"))
    pdf.set_font("DejaVu", "B", 9)
    for index, (width, heading) in enumerate(zip(widths, headings)):
        pdf.cell(width, 7, heading, border="B", align="R" if index >= 3 else "L")
    pdf.ln()
    pdf.set_font("DejaVu", "", 9)
    _row(pdf, widths, (day(statement.start), _("Opening balance"), "", "", "", money(statement.opening_balance)))
    for entry in statement.entries:
        reference = entry.reference if entry.kind == EntryKind.INVOICE else (
            f"{entry.reference} · {', '.join(entry.invoice_numbers)}")
        _row(pdf, widths, (day(entry.day), kinds[entry.kind], reference,
                           money(entry.debit) if entry.debit else "", money(entry.credit) if entry.credit else "",
                           money(entry.balance)))
    pdf.set_font("DejaVu", "B", 9)
    _row(pdf, widths, (day(statement.end), _("Closing balance"), "", money(statement.total_debits),
                       money(statement.total_credits), money(statement.closing_balance)), border="T")
    pdf.ln(6)

    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 8, _("Aging on %(date)s") % {"date": day(statement.end)}, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    for bucket in AgingBucket:
        pdf.cell(60, 6, buckets[bucket])
        pdf.cell(40, 6, money(statement.aging[bucket]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 10)
    pdf.cell(60, 7, _("Total due"), border="T")
    pdf.cell(40, 7, money(sum(statement.aging.values())), border="T", align="R", new_x="LMARGIN", new_y="NEXT")
    return pdf.pdf_bytes()


def _row(pdf: DocumentPdf, widths: tuple[float, ...], cells: tuple[str, ...], border: str = "") -> None:
    for index, (width, text) in enumerate(zip(widths, cells)):
        pdf.cell(width, 6, pdf.fit(text, width), border=border, align="R" if index >= 3 else "L")
    pdf.ln()
