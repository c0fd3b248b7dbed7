"""llmchat's test suite. A package so helpers import as `tests.support.…` everywhere."""
