"""The supplier's JSON API under /api/v1/, authenticated by API key and self-documenting.

Each view is declared with `operation(...)`, which registers the route AND its entry in
the OpenAPI document, so the document cannot forget a route the code serves.
"""

from dataclasses import dataclass, field
from functools import wraps

from flask import Blueprint, g, jsonify, request
from jsonschema import Draft202012Validator

from portal.accounts.api_keys import InvalidApiKey, authenticate_api_key
from portal.audit import Actor
from portal.extensions import csrf, db

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


class ApiError(Exception):
    """An API answer other than success: `status`, a stable `code`, a message, the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


@dataclass(frozen=True)
class QueryParameter:
    name: str
    schema: dict
    description: str = ""


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    request_schema: dict | None
    responses: dict[int, tuple[str, dict | None]]
    query: tuple[QueryParameter, ...] = ()
    public: bool = False
    validator: Draft202012Validator | None = field(default=None, repr=False)


OPERATIONS: list[Operation] = []


def operation(rule: str, method: str, *, summary: str, responses: dict, request_schema: dict | None = None,
              query: tuple[QueryParameter, ...] = (), public: bool = False):
    """Register an API view and describe it for the OpenAPI document."""

    def decorate(view):
        spec = Operation(
            rule=rule, method=method, endpoint=view.__name__, summary=summary, request_schema=request_schema,
            responses=responses, query=query, public=public,
            validator=Draft202012Validator(request_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            if request_schema else None,
        )
        OPERATIONS.append(spec)

        @wraps(view)
        def api_view(**path):
            if not spec.public:
                g.api_actor = _authenticate()
            body = _validated_body(spec) if spec.request_schema else None
            return view(body, **path) if spec.request_schema else view(**path)

        blueprint.add_url_rule(rule, endpoint=view.__name__, view_func=api_view, methods=[method])
        return view

    return decorate


def current_actor() -> Actor:
    return g.api_actor


def _authenticate() -> Actor:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="acquit"'}
    if scheme.lower() != "bearer" or not presented.strip():
        raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'", headers=challenge)
    try:
        api_key = authenticate_api_key(db.session, presented.strip())
    except InvalidApiKey:
        raise ApiError(401, "invalid_api_key", "this API key is not valid or was revoked", headers=challenge) from None
    return Actor(label=f"api:{api_key.name}")


def _validated_body(spec: Operation) -> dict:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object (Content-Type: application/json)")
    errors = sorted(spec.validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        error = errors[0]
        raise ApiError(422, "validation_error", _describe(error), field=_field_name(error))
    return body


def _field_name(error) -> str | None:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else None
        path.append(missing)
    if error.validator == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else None
        path.append(extra)
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or None


def _describe(error) -> str:
    if error.validator == "additionalProperties":
        return "unknown field"
    if error.validator == "required":
        return "this field is required"
    if error.validator == "format":
        return f"not a valid {error.validator_value}"
    if error.validator == "oneOf":
        return "not a valid value: see the schema"
    return error.message[:300]


@blueprint.errorhandler(ApiError)
def _api_error(error: ApiError):
    response = jsonify(error={"code": error.code, "message": error.message, "field": error.field})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


from portal.blueprints.api import views  # noqa: E402,F401  (routes register on import)
