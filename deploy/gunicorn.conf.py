"""gunicorn settings for Acquit: `gunicorn -c deploy/gunicorn.conf.py`, from the repository's root.

Each setting can be changed from the environment (the systemd unit's EnvironmentFile, the
compose file's env_file) without editing this file; the defaults suit one machine behind a
reverse proxy on the same host.
"""

import os

# The portal's own setting (portal/config.py): gunicorn's lines follow it too, see the end.
_log_format = os.environ.get("ACQUIT_LOG_FORMAT") or "json"

wsgi_app = "wsgi:app"

# Where the reverse proxy reaches gunicorn: localhost by default; `0.0.0.0:8000` in a container.
bind = os.environ.get("ACQUIT_BIND", "127.0.0.1:8000")

# Threads, not more processes: a request may wait on Stripe (up to ACQUIT_STRIPE_TIMEOUT) or
# on an SMTP server (ACQUIT_SMTP_TIMEOUT); a worker's other threads serve others meanwhile.
# Each process keeps its own pool of database connections (up to 15 with SQLAlchemy's
# defaults): workers × machines × 15 must stay within PostgreSQL's max_connections.
worker_class = "gthread"
workers = int(os.environ.get("ACQUIT_WEB_WORKERS") or (os.cpu_count() or 1) + 1)
threads = int(os.environ.get("ACQUIT_WEB_THREADS") or 4)

# Not preloaded: each worker builds the app after the fork, so no database connection or
# Stripe client made in the arbiter is shared between processes, and `kill -HUP` (systemctl
# reload) starts workers on the newly deployed code.
preload_app = False

# systemd (or the container runtime) drives gunicorn by signals: HUP reloads, TERM stops. No
# control socket in the service user's home, which two instances on one host would share.
control_socket_disable = True

# A worker silent this long is killed and replaced. Above the Stripe timeout (30 s by default),
# which is the longest a request waits on purpose.
timeout = int(os.environ.get("ACQUIT_WEB_TIMEOUT") or 60)
# On SIGTERM (a deploy, systemctl stop), requests under way get this long to finish: a payment
# being confirmed with Stripe ends with its answer recorded rather than cut off.
graceful_timeout = int(os.environ.get("ACQUIT_WEB_GRACEFUL_TIMEOUT") or 35)
# Idle keep-alive connections from the proxy; keep it above the proxy's own idle timeout for
# upstreams so the proxy, not gunicorn, closes them (no race on a reused connection).
keepalive = int(os.environ.get("ACQUIT_WEB_KEEPALIVE") or 75)

# Which forwarded headers to believe is the portal's decision (ACQUIT_TRUSTED_PROXIES, by
# number of hops, see portal/proxies.py), made in one place: gunicorn believes none itself,
# or X-Forwarded-Proto from localhost would make a request https even with the setting at 0.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}

# The portal writes one line per request itself, with its request id, its client's address
# and a path without tokens or query string (portal/request_log.py): gunicorn's access log
# would repeat it without those, and with the query string.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("ACQUIT_WEB_LOG_LEVEL") or "info"

# gunicorn's own lines (start, workers booting, a worker timing out) in the portal's format,
# so a JSON log stays one JSON object per line from start to end.
if _log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["json_stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["discard"], "propagate": False},
        },
        "handlers": {
            "json_stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "discard": {"class": "logging.NullHandler"},
        },
        "formatters": {"json": {"()": "portal.structured_logs.JsonFormatter"}},
    }
