"""The OpenAPI 3.1 document, built from the operations the API registers."""

import re

from portal.blueprints.api import OPERATIONS, blueprint

_PATH_PARAMETER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    for spec in OPERATIONS:
        path = blueprint.url_prefix + _PATH_PARAMETER.sub(r"{\1}", spec.rule)
        operation = {
            "operationId": spec.endpoint,
            "summary": spec.summary,
            "parameters": [
                {"name": name, "in": "path", "required": True,
                 "schema": spec.path.get(name, {"type": "string", "minLength": 1})}
                for name in _PATH_PARAMETER.findall(spec.rule)
            ]
            + [
                {"name": parameter.name, "in": "query", "required": False, "schema": parameter.schema,
                 **({"description": parameter.description} if parameter.description else {})}
                for parameter in spec.query
            ],
            "responses": {
                str(status): {
                    "description": description,
                    **({"content": {"application/json": {"schema": schema}}} if schema else {}),
                }
                for status, (description, schema) in sorted(spec.responses.items())
            },
        }
        if spec.request_schema:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": spec.request_schema}},
            }
        if spec.public:
            operation["security"] = []
        paths.setdefault(path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Acquit supplier API",
            "version": "1.0.0",
            "description": (
                "Feed the portal from an ERP and read payments back for reconciliation. Amounts are integers "
                "in minor units (cents) next to an ISO 4217 currency. Every write is idempotent: sending the "
                "same body twice changes nothing and says so in `outcome`. Errors are "
                '`{"error": {"code", "message", "field"}}`.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
