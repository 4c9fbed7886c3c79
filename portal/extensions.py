"""Extension objects, created once here and bound to an app by `create_app`."""

from dataclasses import dataclass

from flask import Flask, current_app
from flask.globals import app_ctx
from flask_babel import Babel
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from portal.db import make_engine


@dataclass
class _BoundDatabase:
    engine: Engine
    sessions: scoped_session


class Database:
    """One SQLAlchemy session per app context; the request commits once at its end."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["ACQUIT_DATABASE_URL"])
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        sessions = scoped_session(factory, scopefunc=lambda: id(app_ctx._get_current_object()))
        app.extensions["acquit.db"] = _BoundDatabase(engine=engine, sessions=sessions)

        @app.teardown_appcontext
        def _remove_session(_error):
            sessions.remove()

    @property
    def _bound(self) -> _BoundDatabase:
        return current_app.extensions["acquit.db"]

    @property
    def session(self) -> Session:
        return self._bound.sessions()

    @property
    def engine(self) -> Engine:
        return self._bound.engine

    def bind_sessions(self, app: Flask, **session_options) -> None:
        """Rebuild the app's session factory with `session_options` (tests bind one connection)."""
        bound: _BoundDatabase = app.extensions["acquit.db"]
        bound.sessions.remove()
        bound.sessions.configure(**session_options)


db = Database()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
htmx = HTMX()
