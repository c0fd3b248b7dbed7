"""The Textual front end: a thin view over core state and the event stream."""
