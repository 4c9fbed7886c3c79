"""The `acquit` command: the Flask CLI plus Acquit's own groups (db, demo, outbox)."""

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from portal import migrate


def main() -> None:
    from portal import create_app

    FlaskGroup(create_app=create_app, help="Acquit, the customer payment portal.")(prog_name="acquit")


def register(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(demo_command)
    app.cli.add_command(outbox_group)


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


@click.command("demo", help="Create the database, load the demo supplier and serve the portal.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--reset", is_flag=True, help="Delete all data first and load the demo afresh.")
@click.option("--no-serve", is_flag=True, help="Load the demo data and stop.")
@with_appcontext
def demo_command(host: str, port: int, reset: bool, no_serve: bool) -> None:
    from portal import clock, demo
    from portal.extensions import db

    database_url = current_app.config["ACQUIT_DATABASE_URL"]
    if reset:
        demo.drop_everything(db.engine)
    migrate.upgrade(database_url)
    if demo.is_loaded(db.session):
        click.echo("Demo data already loaded (use --reset to start again).")
    else:
        summary = demo.load(db.session, today=clock.today())
        db.session.commit()
        click.echo(summary)
    click.echo(demo.SIGN_IN_HELP)
    if not no_serve:
        click.echo(f"Serving the portal on http://{host}:{port}/  (Ctrl+C to stop)")
        current_app.run(host=host, port=port, debug=False, use_reloader=False)


@click.group("outbox", help="E-mails waiting to be sent.")
def outbox_group() -> None:
    pass


@outbox_group.command("deliver", help="Send every pending e-mail now (retries earlier failures).")
@with_appcontext
def outbox_deliver() -> None:
    from portal import smtp_settings
    from portal.extensions import db
    from portal.mail import outbox

    sent = outbox.deliver(db.session, smtp_settings(current_app))
    db.session.commit()
    click.echo(f"{sent} e-mail(s) sent.")
