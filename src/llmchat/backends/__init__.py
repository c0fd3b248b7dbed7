"""One module per wire protocol; each turns a ChatRequest into an async stream of events."""
