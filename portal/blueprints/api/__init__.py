"""The supplier's JSON API under /api/v1/, authenticated by API key and self-documenting.

Each view is declared with `operation(...)`, which registers the route AND its entry in
the OpenAPI document, so the document cannot forget a route the code serves.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, cached_property, partial, wraps

import fastjsonschema
from flask import Blueprint, g, jsonify, request
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from portal.accounts.api_keys import InvalidApiKey, authenticate_api_key
from portal.audit import Actor
from portal.blueprints.api.schemas import ERROR
from portal.db import begin_write_after_reading
from portal.extensions import csrf, db
from portal.request_hooks import BEGINS_WRITING_ITSELF

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)

# Only the formats jsonschema checks by itself: the others ("date-time", "uri") are checked
# only when some optional package happens to be installed, and the API must answer the same
# everywhere. Date-times are parsed by the views, which say what is wrong.
FORMATS = FormatChecker(formats=("date", "email"))


def _ecma_pattern(validator, pattern: str, instance, schema):
    if validator.is_type(instance, "string") and not _compiled_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _compiled_pattern(pattern: str) -> re.Pattern:
    # Patterns are ECMA-262, where "$" ends the text; in Python it also matches before a final
    # newline, which would let "INV-1\n" through as an invoice number (or an address into a header).
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


# The validator of every schema the API checks: JSON Schema 2020-12 with ECMA-262 "$".
ApiValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def quick_acceptance(schema: dict) -> Callable[[object], bool]:
    """Whether a request body is certainly valid under `schema`, answered about ten times faster than
    `ApiValidator` (fastjsonschema compiles the schema to Python): a batch of 1,000 invoices is most of
    an import's checking. It is never more lenient than `ApiValidator` (the same formats; a "$" it reads
    as the end of the text everywhere, where ours does so only at a pattern's end): a body it refuses is
    checked by `ApiValidator`, whose error the client reads, and one that finds nothing wrong is taken.
    tests/api/test_quick_acceptance.py holds the two to that."""
    formats = {name: partial(FORMATS.conforms, format=name) for name in FORMATS.checkers}
    validate = fastjsonschema.compile(_patterns_for_fastjsonschema(schema), formats=formats)

    def accepts(body: object) -> bool:
        try:
            validate(body)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return accepts


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

    def check(self, value: str) -> None:
        """Refuse (400, naming the parameter) a value its documented schema does not allow."""
        if NUL in value:
            raise ApiError(400, "invalid_parameter", NUL_MESSAGE, field=self.name)
        if self.schema.get("type") == "integer":
            if not value.isdigit():
                raise ApiError(400, "invalid_parameter", "not a whole number", field=self.name)
            value = int(value)
        error = next(iter(self._validator.iter_errors(value)), None)
        if error is not None:
            raise ApiError(400, "invalid_parameter", _describe(error), field=self.name)

    @cached_property
    def _validator(self) -> Draft202012Validator:
        return ApiValidator(self.schema, format_checker=FORMATS)


def _patterns_for_fastjsonschema(schema):
    """`schema` with each pattern as ours reads it (a final "$" as the end of the text) and with no other
    bare "$": fastjsonschema turns every "$" into an end of text, even one in a character class."""
    if isinstance(schema, list):
        return [_patterns_for_fastjsonschema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: _escaped_in_classes(_compiled_pattern(value).pattern) if key == "pattern" and isinstance(value, str)
            else _patterns_for_fastjsonschema(value) for key, value in schema.items()}


def _escaped_in_classes(pattern: str) -> str:
    """`pattern` with each "$" inside a character class escaped ("[$%]" and "[\\$%]" mean the same)."""
    written, in_class, escaped = [], False, False
    for character in pattern:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "[":
            in_class = True
        elif character == "]":
            in_class = False
        elif character == "$" and in_class:
            written.append("\\")
        written.append(character)
    return "".join(written)


@dataclass
class Operation:
    rule: str
    method: str
    endpoint: str
    summary: str
    request_schema: dict | None
    responses: dict[int, tuple[str, dict | None]]
    query: tuple[QueryParameter, ...] = ()
    path: dict[str, dict] = field(default_factory=dict)
    public: bool = False
    max_body_bytes: int | None = None
    validator: Draft202012Validator | None = field(default=None, repr=False)

    accepts_quickly: Callable[[object], bool] | None = field(default=None, repr=False)


OPERATIONS: list[Operation] = []
# PostgreSQL's text cannot hold the NUL character: refused at the door, it cannot reach a query.
NUL = "\x00"
NUL_MESSAGE = "text cannot contain the NUL character"
# Answered by the app before any view runs (see `portal.request_hooks.register_request_hooks`), so possible everywhere.
COMMON_RESPONSES = {414: ("the query string is too long", ERROR)}


def operation(rule: str, method: str, *, summary: str, responses: dict, request_schema: dict | None = None,
              query: tuple[QueryParameter, ...] = (), path: dict[str, dict] | None = None, public: bool = False,
              max_body_bytes: int | None = None):
    """Register an API view and describe it for the OpenAPI document.

    `path` gives the JSON schema of path parameters that have one (any other is a non-empty
    string); a value outside it is refused with 422 naming the parameter. `max_body_bytes`
    raises the portal's body limit (MAX_CONTENT_LENGTH) for this view; a larger body is refused (413).
    """

    def decorate(view):
        spec = Operation(
            rule=rule, method=method, endpoint=view.__name__, summary=summary, request_schema=request_schema,
            responses={**responses, **COMMON_RESPONSES}, query=query, path=path or {}, public=public,
            max_body_bytes=max_body_bytes,
            validator=ApiValidator(request_schema, format_checker=FORMATS)
            if request_schema else None,
            accepts_quickly=quick_acceptance(request_schema) if request_schema else None,
        )
        OPERATIONS.append(spec)
        path_validators = {name: ApiValidator(schema) for name, schema in spec.path.items()}

        @wraps(view)
        def api_view(**path):
            if not spec.public:
                g.api_actor = _authenticate()
            for name, value in path.items():
                if name in path_validators:
                    _check_path_parameter(name, value, path_validators[name])
                elif NUL in value:
                    raise ApiError(404, "not_found", "no such resource")
            for parameter in spec.query:
                # Every value sent, even empty: the document promises what a value must look like.
                for value in request.args.getlist(parameter.name):
                    parameter.check(value)
            if spec.max_body_bytes is not None:
                request.max_content_length = spec.max_body_bytes
            body = _validated_body(spec) if spec.request_schema else None
            if method != "GET":
                begin_write_after_reading(db.session)
            return view(body, **path) if spec.request_schema else view(**path)

        setattr(api_view, BEGINS_WRITING_ITSELF, True)
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


def _check_path_parameter(name: str, value: str, validator: Draft202012Validator) -> None:
    if not validator.is_valid(value):
        explained = validator.schema.get("description")
        raise ApiError(422, "validation_error", f"not a valid {name}" + (f": {explained}" if explained else ""),
                       field=name)


def _validated_body(spec: Operation) -> dict:
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body must be a JSON object (Content-Type: application/json)")
    assert spec.validator is not None and spec.accepts_quickly is not None
    errors = [] if spec.accepts_quickly(body) else sorted(spec.validator.iter_errors(body),
                                                         key=lambda error: list(error.absolute_path))
    if errors:
        error = errors[0]
        raise ApiError(422, "validation_error", _describe(error), field=_field_name(error))
    field_with_nul = _find_nul(body)
    if field_with_nul is not None:
        raise ApiError(422, "validation_error", NUL_MESSAGE, field=field_with_nul)
    return body


def _find_nul(value, name: str = "") -> str | None:
    """The name of the first field (or key) of a JSON value whose text holds a NUL, if any."""
    if isinstance(value, str):
        return name if NUL in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        item_name = f"{name}[{key}]" if isinstance(key, int) else (f"{name}.{key}" if name else key)
        found = item_name if isinstance(key, str) and NUL in key else _find_nul(item, item_name)
        if found is not None:
            return found
    return None


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
    if error.validator in ("minimum", "maximum"):
        return f"must be {'at least' if error.validator == 'minimum' else 'at most'} {error.validator_value}"
    if error.validator == "enum":
        return f"one of: {', '.join(map(str, error.validator_value))}"
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
