"""The web layer: one package per feature, each a Blueprint with thin views."""

from flask.json.provider import DefaultJSONProvider

from portal.json_input import loads_bounded


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies parsed by `loads_bounded` (deep nesting is malformed JSON)."""

    def loads(self, s: str | bytes, **kwargs):
        return loads_bounded(s, **kwargs)
