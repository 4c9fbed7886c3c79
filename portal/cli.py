"""The `acquit` command: the Flask CLI plus Acquit's own groups (db, demo, outbox, worker, …)."""

import os
import signal
import socket
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from werkzeug.serving import run_simple

from portal import migrate
from portal.config import env_bool
from portal.config_errors import ConfigurationError
from portal.db import refresh_statistics
from portal.services import build_services, install_services, services_of


def main() -> None:
    from portal.app import create_app

    on_demo = sys.argv[1:2] == ["demo"]
    # ACQUIT_DEMO=1: any other command (an API key, an import) on the demo's database, as the same supplier.
    if on_demo or env_bool("ACQUIT_DEMO", False):
        from portal.demo import DEMO_SUPPLIER

        for name, value in DEMO_SUPPLIER.items():
            os.environ.setdefault(name, value)
    if on_demo:
        # The demo's log is read by a person in a terminal.
        os.environ.setdefault("ACQUIT_LOG_FORMAT", "text")
    try:
        _AcquitGroup(create_app=create_app, help="Acquit, the customer payment portal.")(prog_name="acquit")
    except ConfigurationError as error:
        sys.exit(f"acquit: {error}")


class _AcquitGroup(FlaskGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        # `acquit --help` lists the app's commands, which needs the app: Flask would print the
        # traceback of a wrong setting above the usage; the setting is named in one line instead.
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except ConfigurationError as error:
            click.echo(f"acquit: {error}", err=True)
            return click.Group.list_commands(self, ctx)
        return super().list_commands(ctx)


def register(app: Flask) -> None:
    for command in (db_group, demo_command, outbox_group, apikey_group, import_group, export_group, payments_group,
                    autopay_group, reminders_group, statements_group, worker_command, staff_group):
        app.cli.add_command(command)


@click.group("db", help="The database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Bring the database to the latest schema (or to REVISION).")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    migrate.upgrade(current_app.config["ACQUIT_DATABASE_URL"], revision)
    click.echo(f"Database at {revision}.")


@db_group.command("downgrade", help="Step the schema back to REVISION.")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    migrate.downgrade(current_app.config["ACQUIT_DATABASE_URL"], revision)
    click.echo(f"Database at {revision}.")


@click.command("demo", help="Create the database, load the demo supplier and serve the portal (with the worker).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--reset", is_flag=True, help="Delete all data first and load the demo afresh.")
@click.option("--no-serve", is_flag=True, help="Load the demo data and stop.")
@click.option("--stripe-port", default=8420, show_default=True, type=int,
              help="Port of the local fake Stripe (localstripe) the demo starts, unless STRIPE_SECRET_KEY is set.")
@with_appcontext
def demo_command(host: str, port: int, reset: bool, no_serve: bool, stripe_port: int) -> None:
    from portal import clock, demo
    from portal.extensions import db
    from portal.jobs.worker import BackgroundWorker

    if not no_serve:
        # Said before anything is loaded or started, not after "Serving…".
        _refuse_busy_port(host, port, "--port")
        if services_of(current_app).payments is None:
            _refuse_busy_port(host, stripe_port, "--stripe-port")
    if "ACQUIT_BASE_URL" not in os.environ:
        # Links in e-mails and the PAY NOW link below lead to this server, whatever its port.
        current_app.config["ACQUIT_BASE_URL"] = f"http://{host}:{port}"
    database_url = current_app.config["ACQUIT_DATABASE_URL"]
    # A demo without a mail server shows its e-mails, reset and PAY NOW links included, in the log.
    current_app.config["ACQUIT_DEMO"] = True
    _rebuild_services(current_app)
    if reset:
        demo.drop_everything(db.engine)
    migrate.upgrade(database_url)
    if demo.is_loaded(db.session):
        click.echo("Demo data already loaded (use --reset to start again).")
    else:
        summary = demo.load(db.session, today=clock.today())
        disputes = demo.raise_disputes(db.session, services_of(current_app).disputes, today=clock.today())
        db.session.commit()
        click.echo(summary)
        click.echo(disputes)
    click.echo(demo.SIGN_IN_HELP)
    to_pay = demo.invoice_to_pay_as_guest(db.session, today=clock.today())
    if to_pay is not None:
        click.echo(f"PAY NOW link of invoice {to_pay.number} (no sign-in, as a customer's e-mail gives it):\n"
                   f"  {services_of(current_app).pay_links.link_for(to_pay).url}")
    if no_serve:
        return
    stripe_server = None
    if services_of(current_app).payments is None:
        demo.forget_fake_stripe_records(db.session)
        db.session.commit()
        stripe_server = _start_local_stripe(stripe_port, f"http://{host}:{port}/stripe/webhook")
        click.echo(demo.keep_on_autopay(
            db.session, services_of(current_app).payments, confirm_card=stripe_server.confirm_card_setup,
            supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"], settings=services_of(current_app).autopay_settings,
            today=clock.today()))
        db.session.commit()
        click.echo(f"Card payments go to a local fake Stripe at {stripe_server.api_base}: "
                   "pay with card 4242 4242 4242 4242, any future expiry, any CVC "
                   "(4000 0027 6000 3184 asks for 3-D Secure, 4000 0000 0000 0341 is declined).")
    click.echo(f"Serving the portal on http://{host}:{port}/  (Ctrl+C to stop)")
    # A `kill` stops the demo as Ctrl+C does, so the fake Stripe is not left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Autopay, reconcile and the outbox run as `acquit worker` would, in a thread of the demo.
    worker = BackgroundWorker(current_app._get_current_object())
    worker.start()
    try:
        # Flask's app.run() refuses to serve from inside a `flask` CLI command; its server does not.
        run_simple(host, port, current_app._get_current_object(), threaded=True)
    finally:
        try:
            # The worker's job in progress finishes before the fake Stripe it may be calling goes away.
            worker.stop()
        finally:
            if stripe_server is not None:
                stripe_server.stop()


def _refuse_busy_port(host: str, port: int, option: str) -> None:
    try:
        socket.create_server((host, port)).close()
    except OSError:
        raise click.ClickException(f"cannot listen on {host}:{port}: another program is using it. "
                                   f"Stop it, or choose another port with {option}.") from None


def _start_local_stripe(port: int, webhook_url: str):
    """Run localstripe (a test tool, in its own process) and point the app's payments at it."""
    from portal.payments.stripe_gateway import StripeGateway

    launcher = _test_tool("localstripe_server")
    webhook_secret = "whsec_acquit_demo"
    server = launcher.LocalStripe.start(port)
    server.register_webhook(webhook_url, webhook_secret)
    install_services(current_app, build_services(current_app.config, StripeGateway(
        secret_key=launcher.TEST_SECRET_KEY, publishable_key=launcher.TEST_PUBLISHABLE_KEY,
        webhook_secret=webhook_secret, api_base=server.api_base, js_url=server.stripe_js_url,
    )))
    return server


def _rebuild_services(app: Flask) -> None:
    """The app's services again from its config, the payment gateway kept: links and e-mails
    then lead to the address the demo serves on."""
    payments = services_of(app).payments
    install_services(app, build_services(app.config, payments.gateway if payments is not None else None))


def _test_tool(name: str):
    """A module of the checkout's tests/ folder, which the installed package does not include.

    The demo borrows the test suite's localstripe launcher, so the fake Stripe runs the same
    way in both; it exists only in a checkout, which is where the demo runs.
    """
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "tests" / f"{name}.py"
    if not path.exists():
        raise click.ClickException("the demo's fake Stripe needs a checkout of Acquit (tests/ is missing)")
    spec = importlib.util.spec_from_file_location(f"acquit_demo_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@click.group("outbox", help="E-mails waiting to be sent.")
def outbox_group() -> None:
    pass


@outbox_group.command("deliver", help="Send every pending e-mail now (an earlier failure once its retry wait is over).")
@with_appcontext
def outbox_deliver() -> None:
    from portal.extensions import db
    from portal.mail import outbox

    sent = outbox.deliver(db.session, services_of(current_app).smtp,
                          log_unsent_bodies=current_app.config["ACQUIT_DEMO"])
    db.session.commit()
    click.echo(f"{sent} e-mail(s) sent.")


@click.command("worker", help="Run autopay, payment reconcile, reminders, monthly statements and outbox delivery "
                              "on a schedule until stopped (SIGTERM or Ctrl+C: the job in progress finishes first). "
                              "Safe on several machines.")
@with_appcontext
def worker_command() -> None:
    from portal.jobs.worker import run_worker

    run_worker(current_app._get_current_object())


@click.group("apikey", help="API keys for the supplier's ERP.")
def apikey_group() -> None:
    pass


@apikey_group.command("create", help="Create a key named NAME and print it (this one time only).")
@click.argument("name")
@with_appcontext
def apikey_create(name: str) -> None:
    from portal.accounts.api_keys import ApiKeyNameTaken, create_api_key
    from portal.extensions import db

    try:
        _, key = create_api_key(db.session, name)
    except ApiKeyNameTaken:
        raise click.ClickException(f"a key named {name!r} exists already; choose another name") from None
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"API key {name!r} created. Store it now: it is not shown again.")
    click.echo(key)


@apikey_group.command("revoke", help="Revoke the key named NAME; it stops working at once.")
@click.argument("name")
@with_appcontext
def apikey_revoke(name: str) -> None:
    from portal.accounts.api_keys import UnknownApiKey, revoke_api_key
    from portal.extensions import db

    try:
        revoke_api_key(db.session, name)
    except UnknownApiKey:
        raise click.ClickException(f"no key is named {name!r}") from None
    db.session.commit()
    click.echo(f"API key {name!r} revoked.")


@click.group("import", help="Load data from files.")
def import_group() -> None:
    pass


@import_group.command("invoices", help="Import invoices from a CSV FILE (one row per line), all or nothing.")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Check the file and report, without saving anything.")
@click.option("--no-email", "send_emails", flag_value=False, default=True,
              help="Do not e-mail the new invoices to their customers.")
@with_appcontext
def import_invoices_command(file, dry_run: bool, send_emails: bool) -> None:
    from portal.audit import Actor
    from portal.billing.csv_import import ImportRejected, import_invoices
    from portal.extensions import db

    try:
        actor = Actor.system(f"import:{getattr(file, 'name', 'stdin')}")
        report = import_invoices(db.session, actor, file, send_emails=send_emails and not dry_run)
    except ImportRejected as rejected:
        db.session.rollback()
        for error in rejected.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{len(rejected.errors)} problem(s) found; nothing was imported.") from None
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.outcomes.items()))
    if dry_run:
        db.session.rollback()
        click.echo(f"Dry run: {report.invoices} invoices ({report.lines} lines) would be imported: {outcomes}.")
        return
    db.session.commit()
    # Many new rows: the planner's counts are out of date. Counted on the session's own connection
    # (ANALYZE writes statistics tables: another connection would wait behind any lock this one holds).
    refresh_statistics(db.session.connection())
    db.session.commit()
    click.echo(f"Imported {report.invoices} invoices ({report.lines} lines): {outcomes}.")
    created = report.outcomes.get("created", 0)
    if send_emails and created:
        click.echo(f"{created} new invoice(s) queued for e-mailing with a PAY NOW link: the outbox worker sends "
                   "them (or `acquit outbox deliver`).")


@click.group("export", help="Write CSV exports for reconciliation.")
def export_group() -> None:
    pass


@export_group.command("payments", help="Payments received since DATE, one row per invoice settled; refunds and "
                                    "cancelled transfers as negative rows of their own, on the day they were made.")
@click.option("--since", "since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="First day (YYYY-MM-DD), on the supplier's calendar.")
@click.option("--until", "until", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day included.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="File to write (default: standard output).")
@with_appcontext
def export_payments_command(since, until, output) -> None:
    from portal.billing.exports import ExportFilters, payment_csv
    from portal.extensions import db

    filters = ExportFilters(date_from=since.date(), date_to=until.date() if until else None)
    for chunk in payment_csv(db.session, filters):
        output.write(chunk)


@click.group("payments", help="Card payments.")
def payments_group() -> None:
    pass


@payments_group.command("reconcile", help="Ask the card processor about payments and refunds still in flight "
                                          "and settle them; with --loop, keep doing so.")
@click.option("--loop", is_flag=True, help="Run until stopped, a round every --every seconds.")
@click.option("--every", default=60, show_default=True, type=click.IntRange(min=5), help="Seconds between rounds.")
@with_appcontext
def payments_reconcile(loop: bool, every: int) -> None:
    from portal.extensions import db
    from portal.payments.provider_events import reconcile
    from portal.request_hooks import deliver_enqueued_mail

    context = services_of(current_app).payments
    if context is None:
        raise click.ClickException("card payments are not configured (set STRIPE_SECRET_KEY and the other keys)")
    while True:
        report = reconcile(db.session, context)
        deliver_enqueued_mail(current_app)
        db.session.close()
        click.echo(f"{report.summary()}.")
        if not loop:
            break
        # Each payment is settled in its own transaction, so stopping the loop at any point loses nothing.
        time.sleep(every)
    if report.errors:
        raise click.ClickException(f"{report.errors} could not be checked; the log says why. They stay in flight.")


# The jobs the worker runs, run once by hand or by cron: autopay, reminders, monthly statements.
as_of_option = click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]),
                            help="Act as on this day (YYYY-MM-DD); default: today on the supplier's calendar.")


def _day(as_of):
    """The day a job acts as on: `--as-of`, else today on the supplier's calendar."""
    from portal import clock

    return as_of.date() if as_of else clock.today()


def _close_run(report, not_done: str) -> None:
    """After a job's run: send what it queued (under cron nothing else would until `outbox deliver`), print its
    summary, and fail when some of it could not be done (`not_done`: "invoices could not be handled"...)."""
    from portal.request_hooks import deliver_enqueued_mail

    deliver_enqueued_mail(current_app)
    click.echo(f"{report.summary()}.")
    if report.errors:
        raise click.ClickException(f"{report.errors} {not_done}; the log says why.")


@click.group("autopay", help="Invoices charged to a saved card on their due date.")
def autopay_group() -> None:
    pass


@autopay_group.command("run", help="Charge every invoice due under an active autopay enrolment, once; send the "
                                   "advance notices. Safe to run often and on several machines at once.")
@as_of_option
@with_appcontext
def autopay_run(as_of) -> None:
    from portal.autopay.run import run_autopay
    from portal.extensions import db

    context = services_of(current_app).autopay
    if context is None:
        raise click.ClickException("card payments are not configured (set STRIPE_SECRET_KEY and the other keys)")
    report = run_autopay(db.session, context, as_of=_day(as_of))
    _close_run(report, "invoices could not be handled")


@click.group("staff", help="The supplier's collections staff.")
def staff_group() -> None:
    pass


@staff_group.command("create", help="Create a staff member who signs in as EMAIL with the password typed "
                                    "(or, with --invite, e-mail them a link to choose it).")
@click.argument("email")
@click.option("--name", "full_name", default="", help="Their name, as the staff pages show it.")
@click.option("--invite", is_flag=True, help="E-mail an invitation link instead of asking for a password.")
@click.option("--password", envvar="ACQUIT_STAFF_PASSWORD",
              help="The password; asked for (twice, not shown) when neither this nor ACQUIT_STAFF_PASSWORD is given.")
@with_appcontext
def staff_create(email: str, full_name: str, invite: bool, password: str | None) -> None:
    from portal.accounts.errors import WeakPassword
    from portal.accounts.invitations import InvitationConflict, invite_staff
    from portal.accounts.staff import create_staff
    from portal.audit import Actor
    from portal.extensions import db
    from portal.request_hooks import deliver_enqueued_mail

    actor = Actor.system("cli")
    config = current_app.config
    try:
        if invite:
            user, _ = invite_staff(db.session, actor, email=email, full_name=full_name,
                                   links=services_of(current_app).set_password_links,
                                   supplier_name=config["ACQUIT_SUPPLIER_NAME"], locale="fr")
        else:
            if password is None:
                password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            user = create_staff(db.session, actor, email=email, password=password, full_name=full_name)
    except InvitationConflict as error:
        raise click.ClickException(f"{email}: {error}") from None
    except WeakPassword as error:
        raise click.ClickException(f"the password needs {error}") from None
    db.session.commit()
    if invite:
        deliver_enqueued_mail(current_app)
        click.echo(f"Invitation e-mailed to {user.email} (what the mail server did not take waits for "
                   "`acquit outbox deliver`).")
    else:
        click.echo(f"Staff member {user.email} created; they sign in at {config['ACQUIT_BASE_URL'].rstrip('/')}/login.")


@click.group("reminders", help="Notices before the due date and reminders after it.")
def reminders_group() -> None:
    pass


@reminders_group.command("run", help="E-mail each company the notices and reminders due today, each step of each "
                                     "invoice once. Safe to run often and on several machines at once.")
@as_of_option
@with_appcontext
def reminders_run(as_of) -> None:
    from portal.extensions import db
    from portal.reminders.run import run_reminders

    report = run_reminders(db.session, services_of(current_app).reminders, as_of=_day(as_of))
    _close_run(report, "companies could not be reminded")


@click.group("statements", help="Statements of account.")
def statements_group() -> None:
    pass


@statements_group.command("send-monthly", help="E-mail last month's statement to every company subscribed to it "
                                               "that has not had it yet. Safe to run often.")
@as_of_option
@with_appcontext
def statements_send_monthly(as_of) -> None:
    from portal.extensions import db
    from portal.statements.monthly import send_monthly_statements

    report = send_monthly_statements(db.session, as_of=_day(as_of), supplier_name=current_app.config["ACQUIT_SUPPLIER_NAME"],
                                     base_url=current_app.config["ACQUIT_BASE_URL"])
    _close_run(report, "statements could not be sent")
