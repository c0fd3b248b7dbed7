"""Resilience around backends: timeouts, retries with jitter, breaker, fallback."""
