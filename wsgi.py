"""The WSGI entry point: `gunicorn wsgi:app` or `flask --app wsgi run`."""

import sys

from portal.app import create_app
from portal.config_errors import ConfigurationError

try:
    app = create_app()
except ConfigurationError as error:
    # One line in the service's log saying which setting to fix, rather than a traceback.
    sys.exit(f"acquit: {error}")
