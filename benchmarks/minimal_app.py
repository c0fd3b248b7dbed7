"""A minimal Textual app with the same prompt placeholder: Textual's own start-up floor.

    python -m benchmarks.minimal_app

Its first frame shows a TextArea (with llmchat's placeholder) and a Footer, nothing else,
so "launch to first frame" for it is what any Textual app pays on this machine.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, TextArea

PLACEHOLDER = "Message — Enter sends · ctrl+j newline · Esc stops a reply · F1 help"


class MinimalApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TextArea(placeholder=PLACEHOLDER, compact=True)
        yield Footer()


if __name__ == "__main__":
    MinimalApp().run()
