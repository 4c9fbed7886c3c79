"""How much CPU one invoice PDF (and one Factur-X, and one statement) costs to draw.

Run by hand: `.venv/bin/python bench/pdf.py`. It prints figures and asserts nothing about
time. The documents are built in memory (no database): the demo supplier's identity, a
buyer, and an invoice of BENCH_PDF_LINES lines (default 6) in French. The first document of
each kind is timed apart: it pays for what a process does once (reading the fonts, the
colour profile, the catalogue); the figure that matters is the CPU time (process time, which
other load on the machine disturbs less than the wall clock) of the ones after it.
"""

import os
import platform
import statistics
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _machine import speed_line  # noqa: E402

from portal.billing.documents import BillingDocument, Buyer, DocumentKind, DocumentLine, vat_summary  # noqa: E402
from portal.billing.facturx import facturx_pdf  # noqa: E402
from portal.billing.pdf import render_document_pdf  # noqa: E402
from portal.billing.supplier import supplier_identity  # noqa: E402
from portal.demo import DEMO_SUPPLIER, PRODUCTS  # noqa: E402

RUNS = int(os.environ.get("BENCH_PDF_RUNS", "50"))
LINES = int(os.environ.get("BENCH_PDF_LINES", "6"))


def invoice(number: int) -> BillingDocument:
    lines = []
    for index in range(LINES):
        description, unit_amount, rate = PRODUCTS[index % len(PRODUCTS)]
        quantity = Decimal(index % 5 + 1)
        net = int(unit_amount * quantity)
        tax = int((net * Decimal(rate) / 100).quantize(Decimal(1)))
        # Each invoice's descriptions its own, so no line's wrapping is already known.
        lines.append(DocumentLine(f"{description} (lot {number}-{index})", quantity, unit_amount, Decimal(rate), net, tax))
    net, tax = sum(line.amount_net for line in lines), sum(line.amount_tax for line in lines)
    return BillingDocument(
        kind=DocumentKind.INVOICE, number=f"INV-2026-{number:05d}", issue_date=date(2026, 11, 2), currency="EUR",
        locale="fr", seller=supplier_identity(DEMO_SUPPLIER),
        buyer=Buyer("Boulangeries Martin SAS", "BOUL-MARTIN", "3 place du Marché", "75011", "Paris", "FR",
                    "FR40303265045", "303265045"),
        lines=lines, vat_summary=vat_summary(lines), amount_net=net, amount_tax=tax, amount_total=net + tax,
        amount_due=net + tax, due_date=date(2026, 12, 2), po_number="PO-4711",
        custom_fields=(("Centre de coût", "Production"),), pay_url="http://127.0.0.1:5000/pay/bench-token",
    )


def timed(render) -> tuple[float, list[float]]:
    """CPU milliseconds of the first call, and of each of RUNS calls after it."""
    def once(number: int) -> float:
        started = time.process_time()
        render(invoice(number))
        return (time.process_time() - started) * 1000

    first = once(0)
    return first, [once(number) for number in range(1, RUNS + 1)]


def main() -> None:
    print(f"Python {platform.python_version()} on {os.cpu_count()} CPUs; {RUNS} documents of {LINES} lines each.")
    print(speed_line())
    print("| document | first in the process | then, median | then, p95 | size |")
    print("| --- | --- | --- | --- | --- |")
    for name, render in (("invoice PDF", render_document_pdf), ("Factur-X PDF", facturx_pdf)):
        first, rest = timed(render)
        size = len(render(invoice(RUNS + 1)))
        p95 = statistics.quantiles(rest, n=20)[-1]
        print(f"| {name} | {first:.1f} ms | {statistics.median(rest):.1f} ms | {p95:.1f} ms | {size / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
