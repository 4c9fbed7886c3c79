"""JSON from outside (request bodies, webhooks), parsed with a bound on how deeply it nests.

Python's parser gives up on deep nesting with a RecursionError, which is no ValueError, so
`request.get_json(silent=True)` let it through as a 500; and a body nested just under that
limit would exhaust the stack again in the JSON Schema validator. No body Acquit accepts
nests more than a few levels, so anything deeper than MAX_DEPTH is refused as malformed.
"""

import json

MAX_DEPTH = 32


class TooDeeplyNested(ValueError):
    """A JSON text nested deeper than MAX_DEPTH (a ValueError, as any malformed JSON is)."""


def loads_bounded(text: str | bytes, **kwargs):
    """`json.loads`, refusing with `TooDeeplyNested` a value nested deeper than MAX_DEPTH."""
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise TooDeeplyNested(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if nesting_depth(value) > MAX_DEPTH:
        raise TooDeeplyNested(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def nesting_depth(value) -> int:
    """How many arrays and objects deep `value` goes (0 for a scalar); without recursion."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest

