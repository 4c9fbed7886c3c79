"""Where a `next=` parameter may send a user after an action."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def local_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: a crafted link cannot bounce a user elsewhere."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def with_query_parameter(path: str, name: str, value) -> str:
    """`path` with its query parameter `name` set to `value`, any earlier value of it dropped."""
    parts = urlsplit(path)
    query = [(key, kept) for key, kept in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, str(value))])))
