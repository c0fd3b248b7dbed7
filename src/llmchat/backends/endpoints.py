"""Where each request goes: a route joined onto the base URL's path, its query kept.

A base URL can carry a query every request needs (Azure-style `?api-version=…`,
`?api-key=…`): `http://host/v1?api-key=K` + `/chat/completions` is
`http://host/v1/chat/completions?api-key=K`, never `…?api-key=K/chat/completions`.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def endpoint(base_url: str, route: str) -> str:
    """`route` ("/models") appended to `base_url`'s path; its query kept, any fragment
    dropped. An unparsable URL is joined as text: the request then says what is wrong."""
    try:
        parts = urlsplit(base_url.strip())
    except ValueError:
        return base_url.rstrip("/") + route
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + route, fragment=""))


def root_of(base_url: str) -> str:
    """`http://host:port/v1?q` → `http://host:port?q` (llama-server's own routes live at
    the root; a query the base URL carries goes with them)."""
    try:
        parts = urlsplit(base_url.strip())
    except ValueError:
        base = base_url.rstrip("/")
        return base.removesuffix("/v1")
    path = parts.path.rstrip("/")
    return urlunsplit(parts._replace(path=path.removesuffix("/v1"), fragment=""))
