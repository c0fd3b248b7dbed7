"""llmchat's benchmark suite: real terminal, real app, loopback server. Not a test suite."""
