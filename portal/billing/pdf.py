"""Invoices and credit notes as PDF, drawn server-side in the buyer's language.

What French law asks of an invoice between businesses is all here: both parties' identities
and addresses, the lines, a VAT summary per rate, totals, the due date and payment terms,
the late-payment penalty rate, the fixed €40 recovery indemnity and the early-payment
discount terms, plus how to pay. Long invoices run over pages, the table's headings repeated
and every page numbered. The PDF carries an sRGB output intent and embedded fonts, which
PDF/A-3 (and so Factur-X, `portal.billing.facturx`) requires.
"""

from functools import lru_cache

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from fpdf.enums import OutputIntentSubType
from fpdf.output import PDFICCProfile
from PIL import ImageCms

from portal.billing.documents import BillingDocument, document_translations
from portal.billing.money import to_decimal
from portal.billing.pdf_fonts import DocumentPdf

RECOVERY_INDEMNITY_EUR_CENTS = 4000
_LINE_WIDTHS = (78, 18, 36, 18, 40)
_ROW_HEIGHT = 5


def render_document_pdf(document: BillingDocument) -> bytes:
    """The invoice or credit note `document` as a PDF in its locale."""
    return _DocumentPdf(document).draw().pdf_bytes()


class _DocumentPdf(DocumentPdf):
    def __init__(self, document: BillingDocument):
        super().__init__()
        self.document = document
        self.locale = document.locale
        self.gettext = document_translations(document.locale).gettext
        self.set_auto_page_break(auto=True, margin=22)
        self.set_lang(document.locale)
        self.set_title(f"{self.title_word} {document.number}")
        self.set_author(document.seller.name)
        self.add_output_intent(
            OutputIntentSubType.PDFA, output_condition_identifier="sRGB", output_condition="sRGB",
            registry_name="http://www.color.org", dest_output_profile=_srgb_profile(), info="sRGB",
        )

    @property
    def title_word(self) -> str:
        return self.gettext("Credit note") if self.document.is_credit_note else self.gettext("Invoice")

    def money(self, amount: int, currency: str | None = None) -> str:
        currency = currency or self.document.currency
        # The narrow no-break space Babel puts in French amounts is missing from many PDF viewers' fallbacks.
        return format_currency(to_decimal(amount, currency), currency, locale=self.locale).replace("\u202f", "\u00a0")

    def day(self, value) -> str:
        return format_date(value, format="long", locale=self.locale)

    def percent(self, rate) -> str:
        return f"{format_decimal(rate.normalize(), format='#,##0.##', locale=self.locale)}\u00a0%"

    def legal_form(self) -> str | None:
        """The company's form and capital as French law wants them stated: "SAS au capital de 50 000 €"."""
        seller = self.document.seller
        if seller.legal_form and seller.share_capital:
            return self.gettext("%(form)s with a share capital of %(capital)s") % {
                "form": seller.legal_form, "capital": seller.share_capital}
        return seller.legal_form or (seller.share_capital and self.gettext("Share capital %(capital)s")
                                     % {"capital": seller.share_capital})

    def draw(self) -> "_DocumentPdf":
        self.add_page()
        self._parties()
        self._facts()
        self._lines()
        self._vat_summary_and_totals()
        self._payment()
        self._mentions()
        return self

    def footer(self) -> None:
        seller = self.document.seller
        _ = self.gettext
        identity = [seller.name]
        if legal_form := self.legal_form():
            identity.append(legal_form)
        identity.append(f"{seller.address}, {seller.postcode} {seller.city}")
        if seller.siren:
            identity.append(" ".join(filter(None, ["SIREN", seller.siren, seller.registry])))
        identity.append(_("VAT %(number)s") % {"number": seller.vat_number})
        self.set_y(-17)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(90, 90, 90)
        self.paragraph(3.5, " · ".join(identity), align="C")
        self.cell(0, 4, _("Page %(page)d of %(pages)s") % {"page": self.page_no(), "pages": "{nb}"}, align="C")
        self.set_text_color(0, 0, 0)

    def _parties(self) -> None:
        document, seller, _ = self.document, self.document.seller, self.gettext
        top = self.get_y()
        self.set_font("DejaVu", "B", 14)
        self.cell(95, 8, seller.name, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 9)
        for text in (
            self.legal_form(),
            seller.address,
            f"{seller.postcode} {seller.city}",
            seller.country,
            seller.siret and f"SIRET {seller.siret}" or seller.siren and f"SIREN {seller.siren}",
            seller.registry,
            _("VAT number: %(number)s") % {"number": seller.vat_number},
            seller.email,
        ):
            if text:
                self.cell(95, 4.5, text, new_x="LMARGIN", new_y="NEXT")
        seller_bottom = self.get_y()

        self.set_xy(115, top)
        self.set_font("DejaVu", "B", 18)
        self.cell(85, 10, self.title_word.upper(), align="R", new_x="LEFT", new_y="NEXT")
        self.set_font("DejaVu", "B", 11)
        self.cell(85, 6, _("No. %(number)s") % {"number": document.number}, align="R", new_x="LEFT", new_y="NEXT")
        if document.is_void:
            self.set_text_color(180, 30, 30)
            self.cell(85, 6, _("Void"), align="R", new_x="LEFT", new_y="NEXT")
            self.set_text_color(0, 0, 0)
        self.set_y(max(seller_bottom, self.get_y()) + 4)

        self.set_x(115)
        self.set_font("DejaVu", "B", 9)
        self.cell(85, 5, _("Billed to"), new_x="LEFT", new_y="NEXT")
        self.set_font("DejaVu", "B", 10)
        self.cell(85, 5, document.buyer.name, new_x="LEFT", new_y="NEXT")
        self.set_font("DejaVu", "", 9)
        buyer = document.buyer
        for text in (
            buyer.address,
            " ".join(filter(None, [buyer.postcode, buyer.city])),
            buyer.country,
            buyer.siren and f"SIREN {buyer.siren}",
            buyer.vat_number and _("VAT number: %(number)s") % {"number": buyer.vat_number},
        ):
            if text:
                self.cell(85, 4.5, text, new_x="LEFT", new_y="NEXT")
        self.ln(4)

    def _facts(self) -> None:
        document, _ = self.document, self.gettext
        facts = [(_("Issue date"), self.day(document.issue_date))]
        if document.is_credit_note:
            facts.append((_("Credit note for invoice"),
                          _("%(number)s of %(date)s") % {"number": document.invoice_number,
                                                          "date": self.day(document.invoice_issue_date)}))
        else:
            facts.append((_("Due date"), self.day(document.due_date)))
        facts.append((_("Customer reference"), document.buyer.reference))
        if document.po_number:
            facts.append((_("PO number"), document.po_number))
        facts += list(document.custom_fields)
        if document.is_credit_note and document.reason:
            facts.append((_("Reason"), document.reason))
        self.set_font("DejaVu", "", 9)
        for label, value in facts:
            self.set_font("DejaVu", "B", 9)
            self.cell(50, 5, self.fit(label, 50))
            self.set_font("DejaVu", "", 9)
            self.paragraph(5, value)
        self.ln(4)

    def _line_headings(self) -> None:
        _ = self.gettext
        headings = (_("Description"), _("Quantity"), _("Unit price excl. tax"), _("VAT"), _("Amount excl. tax"))
        self.set_font("DejaVu", "B", 8)
        for index, (width, heading) in enumerate(zip(_LINE_WIDTHS, headings)):
            self.cell(width, 7, self.fit(heading, width), border="B", align="L" if index == 0 else "R")
        self.ln()
        self.set_font("DejaVu", "", 9)

    def _lines(self) -> None:
        self._line_headings()
        for line in self.document.lines:
            described = self.wrapped(line.description, _LINE_WIDTHS[0])
            height = _ROW_HEIGHT * max(1, len(described))
            if self.will_page_break(height):
                self.add_page()
                self._line_headings()
            top = self.get_y()
            self.paragraph(_ROW_HEIGHT, line.description, width=_LINE_WIDTHS[0])
            self.set_xy(self.l_margin + _LINE_WIDTHS[0], top)
            figures = (
                format_decimal(line.quantity.normalize(), locale=self.locale),
                self.money(line.unit_amount),
                self.percent(line.tax_rate),
                self.money(line.amount_net),
            )
            for width, text in zip(_LINE_WIDTHS[1:], figures):
                self.cell(width, _ROW_HEIGHT, text, align="R")
            self.set_xy(self.l_margin, top + height)
        self.cell(sum(_LINE_WIDTHS), 1, "", border="T", new_x="LMARGIN", new_y="NEXT")
        self.ln(3)

    def _vat_summary_and_totals(self) -> None:
        document, _ = self.document, self.gettext
        rows = 2 + len(document.vat_summary)
        if self.will_page_break(_ROW_HEIGHT * (rows + 6)):
            self.add_page()
        top = self.get_y()
        self.set_font("DejaVu", "B", 8)
        for width, heading in zip((25, 35, 30), (_("VAT rate"), _("Taxable amount"), _("VAT amount"))):
            self.cell(width, 6, heading, border="B", align="R")
        self.ln()
        self.set_font("DejaVu", "", 9)
        for subtotal in document.vat_summary:
            self.cell(25, _ROW_HEIGHT, self.percent(subtotal.rate), align="R")
            self.cell(35, _ROW_HEIGHT, self.money(subtotal.amount_net), align="R")
            self.cell(30, _ROW_HEIGHT, self.money(subtotal.amount_tax), align="R", new_x="LMARGIN", new_y="NEXT")
        summary_bottom = self.get_y()

        if document.is_credit_note:
            totals = [(_("Total excl. tax"), document.amount_net), (_("VAT"), document.amount_tax),
                      (_("Total credited incl. tax"), document.amount_total)]
        else:
            totals = [(_("Total excl. tax"), document.amount_net), (_("VAT"), document.amount_tax),
                      (_("Total incl. tax"), document.amount_total)]
            if document.amount_paid:
                totals.append((_("Already paid"), -document.amount_paid))
            if document.amount_credited:
                totals.append((_("Credited"), -document.amount_credited))
            totals.append((_("Amount due"), document.amount_due))
        self.set_y(top)
        for index, (label, amount) in enumerate(totals):
            is_last = index == len(totals) - 1
            self.set_x(110)
            self.set_font("DejaVu", "B" if is_last else "", 10 if is_last else 9)
            self.cell(50, 6, label, align="R", border="T" if is_last else 0)
            self.cell(40, 6, self.money(amount), align="R", border="T" if is_last else 0,
                      new_x="LMARGIN", new_y="NEXT")
        self.set_y(max(summary_bottom, self.get_y()) + 5)

    def _payment(self) -> None:
        document, seller, _ = self.document, self.document.seller, self.gettext
        if document.is_credit_note:
            self.set_font("DejaVu", "", 9)
            self.paragraph(5, _("This credit note reduces what is due on invoice %(number)s.")
                           % {"number": document.invoice_number})
            self.ln(2)
            return
        self.set_font("DejaVu", "B", 10)
        self.cell(0, 6, _("Payment"), new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 9)
        terms = _("Payment due by %(date)s.") % {"date": self.day(document.due_date)}
        if seller.payment_terms:
            terms += " " + seller.payment_terms
        self.paragraph(5, terms)
        if document.pay_url:
            self.set_font("DejaVu", "B", 9)
            self.cell(self.get_string_width(_("Pay online:")) + 2, 5, _("Pay online:"))
            self.set_font("DejaVu", "", 9)
            self.set_text_color(20, 70, 160)
            self.multi_cell(0, 5, document.pay_url, link=document.pay_url, new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0, 0, 0)
        if seller.iban:
            transfer = [_("By bank transfer to %(holder)s") % {"holder": seller.name}, f"IBAN {_grouped(seller.iban)}"]
            if seller.bic:
                transfer.append(f"BIC {seller.bic}")
            if seller.bank_name:
                transfer.append(seller.bank_name)
            transfer.append(_("reference %(number)s") % {"number": document.number})
            self.paragraph(5, " · ".join(transfer))
        self.ln(2)

    def _mentions(self) -> None:
        seller, _ = self.document.seller, self.gettext
        mentions = [
            _("Late payment penalties: %(rate)s a year, due from the day after the due date without a reminder.")
            % {"rate": self.percent(seller.late_penalty_rate)},
            _("Fixed indemnity for recovery costs in case of late payment: %(amount)s "
              "(French Commercial Code, articles L441-10 and D441-5).")
            % {"amount": self.money(RECOVERY_INDEMNITY_EUR_CENTS, "EUR")},
            seller.early_payment_discount or _("No discount for early payment."),
        ]
        self.set_font("DejaVu", "", 7.5)
        self.set_text_color(60, 60, 60)
        for mention in mentions:
            self.paragraph(3.8, mention)
        self.set_text_color(0, 0, 0)


def _grouped(iban: str) -> str:
    return " ".join(iban[index:index + 4] for index in range(0, len(iban), 4))


@lru_cache(maxsize=1)
def _srgb_profile_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _srgb_profile() -> PDFICCProfile:
    return PDFICCProfile(contents=_srgb_profile_bytes(), n=3, alternate="DeviceRGB")
