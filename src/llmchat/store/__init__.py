"""JSONL session files: append, load, recover, lock, list, fork, export."""
