"""The engine: one turn end to end for every front end (the chat screen and `-p`).

Below the TUI, above the gateway: it plans each request against the context window,
saves the user's message, streams the reply through the gateway, folds it, saves it and
prices it, and reports each step to the front end as a typed event. No Textual here.
"""
