"""Pure-Python domain model: messages, parameters, requests, stream events, the conversation.

Nothing in this package imports Textual or httpx, and nothing here touches files except
through `llmchat.store`; a test keeps it so.
"""
