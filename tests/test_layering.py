"""The domain does not import Flask: money and state rules run, and are tested, without a web app.

Every module under portal/ outside the web layer is imported in a fresh interpreter, one
after another; after each, no Flask (nor a Flask extension) may have been loaded.
"""

import json
import subprocess
import sys
from pathlib import Path

import portal

PORTAL = Path(portal.__file__).parent

# What may import Flask, and why; everything else under portal/ is domain.
WEB_LAYER = {
    "portal.app": "the app factory",
    "portal.request_hooks": "what runs around each request",
    "portal.blueprints": "the views",
    "portal.extensions": "the Flask extension objects the factory binds",
    "portal.errors": "the error handlers: a domain error as an HTTP answer",
    "portal.i18n": "a page's language and formats, through Flask-Babel",
    "portal.cli": "the `acquit` command, a Flask CLI group",
    "portal.jobs.worker": "runs each job inside the app's context, with its session",
}

# The first module whose import loads Flask, given the modules to import in order.
PROBE = """
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m == "flask" or m.startswith(("flask.", "flask_")))
    if loaded:
        print(json.dumps({"module": name, "loaded": loaded[:5]}))
        break
"""


def module_name(path: Path) -> str:
    parts = path.relative_to(PORTAL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_web_layer(name: str) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in WEB_LAYER)


def domain_modules() -> list[str]:
    return sorted(name for name in map(module_name, PORTAL.rglob("*.py")) if not is_web_layer(name))


def first_module_loading_flask(modules: list[str]) -> dict | None:
    probe = subprocess.run([sys.executable, "-c", PROBE, json.dumps(modules)], capture_output=True, text=True,
                           timeout=120, check=True)
    return json.loads(probe.stdout) if probe.stdout.strip() else None


def test_no_domain_module_imports_flask():
    modules = domain_modules()
    # The walk finds the domain: a layout change that hid it would make this test pass on nothing.
    assert {"portal", "portal.billing.history", "portal.payments.settlement", "portal.services"} <= set(modules)

    assert first_module_loading_flask(modules) is None


def test_the_probe_names_the_module_that_loads_flask():
    found = first_module_loading_flask(["portal.billing.history", "portal.extensions", "portal.app"])

    assert found is not None
    assert found["module"] == "portal.extensions"
    assert "flask" in found["loaded"]
