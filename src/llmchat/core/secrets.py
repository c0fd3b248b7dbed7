"""Keeping secrets out of what llmchat shows and stores: keys, and secrets inside URLs.

Servers echo parts of the key back ("Incorrect API key provided: sk-…wxyz"; some echo
more than the last four characters), and URLs can carry a key as user:password or as a
query value. Everything llmchat shows or stores from servers, URLs and errors goes
through a `SecretMask` made of the secrets it knows, and URLs are shown without their
secrets (`url_without_secrets`). What the user typed and the model wrote is never
masked: message content is stored exactly.

The rule: any run of `MIN_RUN` or more characters of a secret is masked, except a run
that lies wholly inside a public prefix (`sk-proj-` says nothing about the key). Mask
text after decoding it (JSON, HTML entities, percent-encoding) and before cutting it
short: a key cut in half by a 160-character limit is no longer found whole.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, unquote_to_bytes, urlencode, urlsplit, urlunsplit

MIN_RUN = 6
"""The shortest run of a secret that is masked: long enough not to hide common words
by chance, short enough that what is left of a key cannot be guessed from it."""
MASK = "•••"
"""What a masked run becomes. Its characters appear in no key, so a masked text never
spells part of one."""
PUBLIC_PREFIXES = (
    "sk-ant-admin01-",
    "sk-ant-api03-",
    "sk-svcacct-",
    "sk-or-v1-",
    "sk-admin-",
    "sk-proj-",
    "sk-ant-",
    "sk-",
    "gsk_",
    "xai-",
    "hf_",
)
"""Prefixes every key of a kind starts with (longest first): runs inside them are no
secret, and masking them would hide the only clue to which key is meant."""
_MIN_WHOLE = 4
"""A secret shorter than `MIN_RUN` is masked where it appears whole, if this long."""

# Query parameter names that carry credentials on some hosts (`?key=`, `?api-key=`,
# `?access_token=`, signed URLs' `sig=`), compared without case, `-` or `_`.
_SECRET_NAMES = re.compile(
    r"key|token|secret|passw|pwd|auth|sig|credential|session|bearer|jwt", re.IGNORECASE
)
# A value is token-like if it holds a long unbroken run of letters and digits: keys,
# JWTs, signatures. `2024-02-15-preview` (an api-version) has no such run.
_LONG_RUN = re.compile(r"[A-Za-z0-9]{16,}")


@dataclass(frozen=True, slots=True)
class SecretMask:
    """Masks every run of `MIN_RUN`+ characters of some secrets in a text; build it once
    with `SecretMask.of(secrets)` and call it on every text that leaves a backend."""

    runs: Mapping[str, int] = field(default_factory=dict)
    """Every `MIN_RUN`-character window of the secrets that reaches past their public
    prefix, with how many of its first characters are that prefix (kept visible)."""
    wholes: tuple[str, ...] = ()
    """Secrets too short to have such windows, masked where they appear whole."""

    @classmethod
    def of(cls, secrets: Iterable[str | None]) -> SecretMask:
        runs: dict[str, int] = {}
        wholes: list[str] = []
        for secret in secrets:
            if not secret:
                continue
            if len(secret) < MIN_RUN:
                if len(secret) >= _MIN_WHOLE:
                    wholes.append(secret)
                continue
            prefix = len(public_prefix(secret))
            # A window starting here or later holds at least one character after the prefix.
            for i in range(max(0, prefix - MIN_RUN + 1), len(secret) - MIN_RUN + 1):
                window = secret[i : i + MIN_RUN]
                # Where a window occurs twice in a key, the lesser offset is the safe one.
                runs[window] = min(runs.get(window, MIN_RUN), max(0, prefix - i))
        return cls(MappingProxyType(runs), tuple(sorted(wholes, key=len, reverse=True)))

    def __bool__(self) -> bool:
        return bool(self.runs or self.wholes)

    def __call__(self, text: str) -> str:
        """`text` with every run of a secret replaced by `MASK`."""
        for whole in self.wholes:
            text = text.replace(whole, MASK)
        if not self.runs or len(text) < MIN_RUN:
            return text
        # Mark every character covered by a window that is a run of a secret: a longer
        # run of a secret is covered window by window, wherever it starts and ends.
        covered = bytearray(len(text))
        runs = self.runs
        for start in range(len(text) - MIN_RUN + 1):
            kept = runs.get(text[start : start + MIN_RUN])
            if kept is not None:
                covered[start + kept : start + MIN_RUN] = b"\x01" * (MIN_RUN - kept)
        if not any(covered):
            return text
        pieces: list[str] = []
        masking = False
        for char, hidden in zip(text, covered, strict=True):
            if hidden:
                if not masking:
                    pieces.append(MASK)
                masking = True
            else:
                pieces.append(char)
                masking = False
        return "".join(pieces)


NO_SECRETS = SecretMask()
"""The mask of a backend with no key: masks nothing."""


def mask_secrets(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every run of `MIN_RUN`+ characters of any of `secrets` masked."""
    return SecretMask.of(secrets)(text)


def public_prefix(secret: str) -> str:
    """The public prefix `secret` starts with (`sk-proj-`, …), or ""."""
    return next((p for p in PUBLIC_PREFIXES if secret.startswith(p) and secret != p), "")


def url_secrets(url: str) -> list[str]:
    """The secrets a URL carries: its user and password, and token-like query values,
    both as written and percent-decoded (a server may echo either); and the credentials
    of the `Authorization: Basic …` header an HTTP client makes of user:password (a
    server echoing its request headers shows the password in base64)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    for piece in userinfo.split(":", 1) if userinfo else ():
        found += [piece, unquote(piece)]
    if userinfo:
        found.append(basic_credentials(userinfo))
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _looks_secret(name, value):
            found.append(value)  # parse_qsl has decoded it
    for raw in parts.query.split("&"):
        name, _, value = raw.partition("=")
        if value and _looks_secret(unquote(name), unquote(value)):
            found.append(value)
    return list(dict.fromkeys(s for s in found if s))


def basic_credentials(userinfo: str) -> str:
    """What `Authorization: Basic` carries for a URL's `user:password` (percent-decoded,
    UTF-8, base64, as httpx and browsers send it; a user alone is sent as `user:`)."""
    user, _, password = userinfo.partition(":")
    raw = unquote_to_bytes(user) + b":" + unquote_to_bytes(password)
    return base64.b64encode(raw).decode("ascii")


def url_without_secrets(url: str) -> str:
    """`url` without user:password, token-like query values or a fragment."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""  # not a URL we could use; nothing of it is worth keeping
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    netloc = host if port is None else f"{host}:{port}"
    kept = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not _looks_secret(name, value)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), ""))


def shown_url(url: str) -> str:
    """`url` as a message may show it: without secrets, or a stand-in if unparsable."""
    return url_without_secrets(url) or "(an invalid URL)"


def _looks_secret(name: str, value: str) -> bool:
    if _SECRET_NAMES.search(name.replace("-", "").replace("_", "")):
        return True
    return any(any(c.isdigit() for c in run) or len(run) >= 24 for run in _LONG_RUN.findall(value))
