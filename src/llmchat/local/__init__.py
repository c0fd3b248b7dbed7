"""Local models: finding llama-server, the bundled model, and a server llmchat runs itself."""
