"""The fault scenarios, run outside CI, with their figures in a table.

    .venv/bin/python bench/faults.py                 on SQLite, then on a throwaway PostgreSQL server
    .venv/bin/python bench/faults.py --database sqlite

The scenarios are the tests in tests/faults (each runs the portal under gunicorn, localstripe,
an SMTP server and, on PostgreSQL, a server of its own, as real processes, and fails if a
payment is charged twice, an e-mail is lost or a request answers 500). This runs them with
pytest, one at a time (`scripts/test`, `scripts/test-postgres`), each writing what it measured
to a file, then prints one row per scenario and database:

- payments attempted: the payments people set out to make while the fault lasted;
- settled once: of their invoices, those that ended paid by exactly one charge at Stripe and
  one succeeded payment in the ledger;
- double charges: invoices charged more than once;
- mail lost: e-mails written to the outbox that never reached the SMTP server;
- recovery: seconds from the fault's end (process restarted, Stripe, SMTP or PostgreSQL back)
  until everything was settled or delivered, reconcile and worker runs included.

The exit status is pytest's: non-zero if any scenario failed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNNERS = {"sqlite": "scripts/test", "postgresql": "scripts/test-postgres"}
COLUMNS = ("scenario", "database", "payments attempted", "settled once", "double charges", "mail lost", "recovery")


def run_scenarios(database: str, report: Path) -> int:
    # One scenario at a time: their recovery times are their own, not the machine's shared between them.
    environment = {**os.environ, "ACQUIT_FAULTS_REPORT": str(report), "ACQUIT_TEST_WORKERS": "0"}
    print(f"::: {RUNNERS[database]} tests/faults :::", flush=True)
    return subprocess.run(["bash", RUNNERS[database], "tests/faults", "-p", "no:cacheprovider", "-q", "-rs"],
                          cwd=REPO_ROOT, env=environment).returncode


def table(rows: list[dict]) -> str:
    cells = [COLUMNS] + [
        (row["scenario"], row["database"], str(row["payments_attempted"]), str(row["settled_once"]),
         str(row["double_charges"]), str(row["mail_lost"]), f"{row['recovery_seconds']:.1f} s")
        for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths)) + " |" for line in cells]
    lines.insert(1, "| " + " | ".join("-" * width for width in widths) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    databases = ["sqlite", "postgresql"] if (chosen := parser.parse_args(argv).database) == "both" else [chosen]
    with tempfile.TemporaryDirectory(prefix="acquit-faults-") as work:
        report = Path(work) / "figures.jsonl"
        report.touch()
        statuses = [run_scenarios(database, report) for database in databases]
        rows = [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    print()
    print(table(rows) if rows else "No scenario reported figures.")
    return max(statuses)


if __name__ == "__main__":
    sys.exit(main())
