"""Secrets never shown: any run of 6+ characters of a key is masked; URLs lose theirs."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmchat.core.secrets import (
    MASK,
    MIN_RUN,
    PUBLIC_PREFIXES,
    SecretMask,
    mask_secrets,
    public_prefix,
    url_secrets,
    url_without_secrets,
)

pytestmark = pytest.mark.family("secrets")

KEY = "sk-proj-Zq8xW3vR5tY7uI9oP1aS2dF4gH6jK0lM"

# Keys are printable ASCII (base64url and friends); the text around them is anything.
key_chars = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
keys = st.builds(
    lambda prefix, core: prefix + core,
    st.sampled_from(("", *PUBLIC_PREFIXES)),
    st.text(key_chars, min_size=MIN_RUN, max_size=60),
)
texts = st.text(max_size=80)


def secret_runs(key: str) -> set[str]:
    """Every substring of `key` of MIN_RUN+ characters that is not inside its prefix."""
    prefix = public_prefix(key)
    return {
        key[i:j]
        for i in range(len(key))
        for j in range(i + MIN_RUN, len(key) + 1)
        if j > len(prefix)
    }


@given(key=keys, before=texts, after=texts, data=st.data())
def test_no_run_of_six_characters_of_a_key_survives(
    key: str, before: str, after: str, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(key) - MIN_RUN))
    end = data.draw(st.integers(start + MIN_RUN, len(key)))
    masked = mask_secrets(before + key[start:end] + after, [key])
    assert not any(run in masked for run in secret_runs(key) if len(run) == MIN_RUN)


@given(key=keys, text=texts)
def test_text_without_any_run_of_the_key_is_unchanged(key: str, text: str) -> None:
    if not any(text[i : i + MIN_RUN] in key for i in range(len(text))):
        assert mask_secrets(text, [key]) == text


@given(keys=st.lists(keys, min_size=1, max_size=3), text=texts, data=st.data())
def test_every_configured_secret_is_masked(keys: list[str], text: str, data: st.DataObject) -> None:
    echoed = " ".join(k[-data.draw(st.integers(MIN_RUN, len(k))) :] for k in keys)
    masked = mask_secrets(f"{text} {echoed} {text}", keys)
    for key in keys:
        assert not any(run in masked for run in secret_runs(key) if len(run) == MIN_RUN)


@pytest.mark.parametrize(
    ("echo", "shown"),
    [
        (KEY, "sk-proj-•••"),
        (KEY[-12:], "•••"),  # a server that echoes the last 12 characters
        (KEY[-4:], KEY[-4:]),  # OpenAI's last four: not enough to matter, and a useful hint
        (KEY[:20], "sk-proj-•••"),  # the first half, as a cut at 160 characters would leave
        ("sk-proj-", "sk-proj-"),  # the public prefix alone says nothing
    ],
)
def test_echoed_parts_of_a_key_are_masked(echo: str, shown: str) -> None:
    assert mask_secrets(f"Incorrect API key provided: {echo}.", [KEY]) == (
        f"Incorrect API key provided: {shown}."
    )


def test_the_mask_is_one_marker_per_run_and_keeps_the_text_around_it() -> None:
    text = f"a {KEY} b {KEY[10:20]} c"
    assert mask_secrets(text, [KEY]) == f"a sk-proj-{MASK} b {MASK} c"


def test_a_short_key_is_masked_where_it_appears_whole() -> None:
    assert mask_secrets("bad key abcd!", ["abcd"]) == f"bad key {MASK}!"
    assert mask_secrets("bad key abc!", ["abc"]) == "bad key abc!"


def test_no_secrets_mask_nothing() -> None:
    assert not SecretMask.of([None, ""])
    assert SecretMask.of([None, ""])("anything at all") == "anything at all"


@pytest.mark.parametrize(
    ("url", "secrets", "clean"),
    [
        (
            "http://user:s3cretPassw0rd@host:8080/v1",
            ["user", "s3cretPassw0rd", "dXNlcjpzM2NyZXRQYXNzdzByZA=="],
            "http://host:8080/v1",
        ),
        ("https://h/v1?api-key=abc123def456ghi", ["abc123def456ghi"], "https://h/v1"),
        ("https://h/v1?sig=a%2Bb%3Dcdef1234", ["a+b=cdef1234", "a%2Bb%3Dcdef1234"], "https://h/v1"),
        (
            "https://h/v1?api-version=2024-02-15-preview&key=Zq8xW3vR5t",
            ["Zq8xW3vR5t"],
            "https://h/v1?api-version=2024-02-15-preview",
        ),
        ("http://127.0.0.1:8080/v1", [], "http://127.0.0.1:8080/v1"),
    ],
)
def test_a_url_gives_up_its_secrets(url: str, secrets: list[str], clean: str) -> None:
    assert sorted(url_secrets(url)) == sorted(secrets)
    assert url_without_secrets(url) == clean


# User names and passwords: any text (httpx sends them percent-decoded, as UTF-8).
userinfo_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)


@given(user=userinfo_text, password=userinfo_text | st.just(""), around=texts)
def test_the_basic_auth_header_made_of_a_url_is_masked(
    user: str, password: str, around: str
) -> None:
    """A server echoing `Authorization: Basic …` (built by httpx from user:password in
    the base URL) shows none of it: the mask of the URL's secrets covers it."""
    userinfo = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    url = f"http://{userinfo}@127.0.0.1:8080/v1"
    request = httpx.Request("GET", url)
    address = httpx.URL(url)
    [sent] = httpx.BasicAuth(address.username, address.password).sync_auth_flow(request)
    header = sent.headers["authorization"]
    token = header.removeprefix("Basic ")
    shown = SecretMask.of(url_secrets(url))(f"{around} auth={header} {around}")
    assert token not in shown
    assert not any(run in shown for run in secret_runs(token)), shown
