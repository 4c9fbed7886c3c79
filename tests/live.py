"""The real app served over real HTTP on a migrated database of its own, for tests that need a
server a browser or other threads can reach (tests/browser, tests/payments' concurrency tests).

Nothing is rolled back there: requests commit for real, and what a test seeds through a
`live_session` must be committed before the server can see it.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from portal.app import create_app
from portal.db import make_engine
from portal.extensions import db
from tests.conftest import app_config


@dataclass
class LiveServer:
    """The portal served on 127.0.0.1 by werkzeug's threaded server; `url` has no trailing slash."""

    app: Flask
    url: str
    database_url: str


@contextmanager
def serve(database_url: str, name: str, **config) -> Iterator[LiveServer]:
    """`create_app` on `database_url`, CSRF on (clients go through the real forms), served in a thread."""
    # The port first: the app's links and e-mails lead to the address it is served on.
    server = make_server("127.0.0.1", 0, None, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(app_config(database_url, TESTING=False, WTF_CSRF_ENABLED=True, **config, ACQUIT_BASE_URL=url))
    server.app = app
    live = LiveServer(app=app, url=url, database_url=database_url)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@contextmanager
def engine_of(live: LiveServer) -> Iterator[Engine]:
    engine = make_engine(live.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def session_on(engine: Engine) -> Iterator[Session]:
    """A session on the live server's database; commit before the server looks."""
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
