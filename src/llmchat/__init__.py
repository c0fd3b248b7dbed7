"""llmchat: a keyboard-driven terminal chat client that shows what the model is doing."""

__version__ = "0.1.0"
