"""``llmchat config init``: write a commented starter config, safely.

tomli-w cannot write comments, so the file is a text template; every value in it is
rendered by tomli-w (correct quoting and escaping) from the same defaults the settings
model uses, and the result is checked with the real loader before it is written.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from string import Template

import tomli_w

from llmchat import paths
from llmchat.config.loader import parse_config
from llmchat.config.model import (
    DEFAULT_OPENAI_MODEL,
    LLAMACPP_BASE_URL,
    OPENAI_BASE_URL,
    BreakerSettings,
    Timeouts,
)
from llmchat.core.params import SamplingParams

_TEMPLATE = Template(
    """\
# llmchat configuration, written by `llmchat config init`.
#
# Every setting is optional: delete a line to get its default.
# Environment variables override this file (LLMCHAT_BACKEND, LLMCHAT_MODEL,
# LLMCHAT_BASE_URL, LLMCHAT_SYSTEM), and command-line options override both.

# Backend used when neither --backend nor LLMCHAT_BACKEND names one.
# Unset: the first [backends.*] table below.
# default_backend = $default_backend

# System message that opens every new conversation. Unset: none.
# system_prompt = "You are a concise, helpful assistant."

# UI theme name. Unset: the theme you last picked in the app.
# theme = "llmchat-light"

# Share of the context window a request may fill (prompt + the reply's reserve) before
# the oldest turns are left out of it (the session file keeps them). 0.1 to 1.
# context_threshold = 0.9

# How the oldest turns are left out: "chunked" leaves out a block of them, down to well
# under the threshold, and keeps that same start for the next turns, so the server can
# reuse its cache of the prompt; "oldest" leaves out one turn at a time, just enough.
# context_truncation = "chunked"

# The llama-server binary for models llmchat starts itself (model_file below).
# Unset: $$LLAMA_SERVER, then llama-server on PATH, then the one from llmchat[local].
# llama_server = "~/llama.cpp/build/bin/llama-server"

# Your own prices for a model (USD per million tokens); they win over the price list
# llmchat ships with. Local models always cost nothing.
# [pricing."my-hosted-model"]
# input_per_mtok = 0.5
# cached_input_per_mtok = 0.25
# output_per_mtok = 1.5

# Sampling for new conversations (--temperature, --top-p, --max-tokens override them).
[sampling]
# 0 to 2. Lower is more focused and repeatable, higher more varied.
temperature = $temperature
# 0 to 1. 1.0 turns nucleus sampling off.
top_p = $top_p
# Tokens reserved for each reply. Always sent, so a reply never runs unbounded.
max_tokens = $max_tokens
# A fixed seed makes replies reproducible, where the server supports it.
# seed = 42

# Network timeouts, in seconds, for every backend; a backend's table can set its own
# (timeouts = { first_token = 120, idle = 60 }), and what it leaves out comes from here.
[timeouts]
# To establish a connection.
connect = $connect
# For the reply's headers and first token together, however slowly bytes trickle in.
# Long on purpose: llama-server answers only after reading the whole prompt, which can
# take minutes for a big one on a slow machine. Questions about the server (its models,
# its context size) get 10 s, or this if shorter.
first_token = $first_token
# Once the reply has begun: how long a stream may send nothing before it counts as
# stalled and ends with an error (the text so far is kept). Unset: $idle_remote_s s for a
# remote server, $idle_local_s s for one on this machine.
# idle = $idle_remote

# Backends. None is configured yet: until you uncomment one (or set OPENAI_API_KEY /
# OPENAI_BASE_URL), llmchat uses the bundled local model if llmchat[local] is installed.
# Uncomment a table, and its keys, to use it.

# A local llama.cpp server. Start it with:
#   llama-server -m MODEL.gguf --port 8080
# or let llmchat start (and stop) it for you: set model_file instead of base_url.
# [backends.local]
# Wire protocol: "llamacpp" (llama-server: exact token counts, timings and context
# size) or "openai" (any OpenAI-compatible server: vLLM, Ollama, OpenRouter, ...).
# kind = "llamacpp"
# API root, including /v1.
# base_url = $local_url
# llama-server answers with the model it was started with. Unset: "default".
# model = "default"
# A GGUF file: llmchat starts llama-server with it on a free port, and stops it on exit.
# model_file = "~/models/qwen2.5-7b-instruct-q4_k_m.gguf"
# With model_file: a Jinja chat template to start llama-server with, instead of the
# GGUF's own (for a base model that has none), and the stop strings it needs.
# chat_template_file = "~/models/dialogue.jinja"
# stop = ["\\nUser:"]
# Context size in tokens: for model_file, the size llama-server is started with
# (default 4096); otherwise only used if the server cannot report it.
# context_window = 8192
# Whether the model takes images (attached with -a or `attach: file…`). Unset: a
# llama-server says so itself; other servers are tried, and a refusal is shown.
# vision = false
# Most servers take "max_tokens" (the default for hosts other than OpenAI's).
# max_tokens_field = "max_tokens"

# OpenAI. The key is read from the environment variable named by api_key_env, so it
# never has to be written in this file. A key is only ever sent to the host of its
# own base_url; pointing this backend elsewhere (--base-url) leaves the key behind.
# [backends.openai]
# kind = "openai"
# base_url = $openai_url
# model = $openai_model
# The NAME of the environment variable holding the key, not the key itself.
# api_key_env = "OPENAI_API_KEY"
# OpenAI's newer models refuse "max_tokens" and need "max_completion_tokens"
# (the default for api.openai.com).
# max_tokens_field = "max_completion_tokens"
# Backends to ask instead, in order, when this one cannot answer (unreachable, overloaded,
# timed out, failing again and again) before its first token; never when it refuses the
# key or the request. The reply records which backend and model answered.
# fallback = ["local"]
# This backend's own timeouts (see [timeouts] above): a hosted API answers fast, so a
# silence is a fault sooner than on a local model.
# timeouts = { first_token = 120, idle = 60 }
# Its circuit breaker: after this many failures in a row before the first token
# (unreachable, timed out, overloaded), it is not asked for cooldown seconds (requests
# fail at once or go to the fallback), then one request tries it again. The palette's
# "backends: show" lists each backend's breaker, failures and last error.
# breaker = { failures = $breaker_failures, cooldown = $breaker_cooldown }

# Anthropic (Claude), over its own Messages API. The key is read from ANTHROPIC_API_KEY
# unless api_key_env names another variable. Prompt caching is on: a long chat re-reads
# its earlier turns from the cache at a tenth of the input price.
# [backends.anthropic]
# kind = "anthropic"
# base_url = "https://api.anthropic.com/v1"
# model = "claude-sonnet-4-5"
"""
)


@dataclass(frozen=True, slots=True)
class StarterWritten:
    """What ``write_starter_config`` did."""

    path: Path
    """The config file written."""
    backup: Path | None
    """Where the previous file was kept (``force=True`` only), else None."""


def starter_config_text() -> str:
    """The commented starter config, with values from the model's own defaults."""
    sampling, timeouts = SamplingParams(), Timeouts().settled(local=False)
    text = _TEMPLATE.substitute(
        default_backend=_toml("local"),
        temperature=_toml(sampling.temperature),
        top_p=_toml(sampling.top_p),
        max_tokens=_toml(sampling.max_tokens),
        connect=_toml(timeouts.connect),
        first_token=_toml(timeouts.first_token),
        idle_remote=_toml(timeouts.idle),
        idle_remote_s=f"{timeouts.idle:g}",
        idle_local_s=f"{Timeouts().settled(local=True).idle:g}",
        local_url=_toml(LLAMACPP_BASE_URL),
        openai_url=_toml(OPENAI_BASE_URL),
        openai_model=_toml(DEFAULT_OPENAI_MODEL),
        breaker_failures=_toml(BreakerSettings().failures),
        breaker_cooldown=f"{BreakerSettings().cooldown:g}",
    )
    parse_config(text)  # a starter that fails our own loader would be a bug: fail here
    return text


def write_starter_config(path: Path | None = None, *, force: bool = False) -> StarterWritten:
    """Write the starter config to ``path`` (default: ``paths.config_file()``).

    The file is created with mode 0600 and appears atomically. An existing file is
    never replaced unless ``force`` is set, and even then it is first copied to
    ``<name>.bak`` (or ``.bak.1``, ``.bak.2``, … if that is taken).

    Raises ``FileExistsError`` when the file exists and ``force`` is False.
    """
    path = paths.config_file() if path is None else path
    data = starter_config_text().encode("utf-8")
    paths.ensure_private_dir(path.parent)
    if not force:
        try:
            paths.atomic_write(path, data, overwrite=False)
        except FileExistsError:
            raise FileExistsError(
                errno.EEXIST,
                "a config file already exists and was left unchanged "
                "(use --force to replace it, keeping a .bak copy)",
                str(path),
            ) from None
        return StarterWritten(path, backup=None)
    if path.is_symlink():
        # Dotfile managers link the config in; replace the file they manage, not the link.
        path = path.resolve()
    backup = None
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = None
    if old is not None:
        backup = _keep_backup(path, old)
    paths.atomic_write(path, data)
    return StarterWritten(path, backup)


def _keep_backup(path: Path, data: bytes) -> Path:
    # Never overwrite an earlier backup: after two `init --force` runs the first .bak
    # is the user's original file, the one worth keeping.
    for number in range(1000):
        suffix = ".bak" if number == 0 else f".bak.{number}"
        candidate = path.with_name(path.name + suffix)
        try:
            paths.atomic_write(candidate, data, overwrite=False)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, "too many config backups; remove some", str(path))


def _toml(value: object) -> str:
    """A TOML literal for ``value``, spelled by tomli-w."""
    line = tomli_w.dumps({"v": value})
    return line.split("=", 1)[1].strip()
