"""Reading llama-server's native `/completion` stream (a raw text continued).

Its chunks are `{"content", "stop", "completion_probabilities", …}`; the last one has
`stop: true`, `stop_type` ("limit" when `n_predict` cut it), `tokens_evaluated`,
`tokens_predicted` and `timings`. Errors come as `{"error": …}` like the chat stream's,
so the shared reader's checks (JSON objects only, the error forms, how a stream ends)
are kept and only the chunk's shape is read differently.
"""

from __future__ import annotations

from typing import Any

from llmchat.backends.errors import stream_error
from llmchat.backends.openai_reply import ReplyReader, int_or_none, timings_of
from llmchat.backends.sse import SSEEvent
from llmchat.core.events import Delta, Probabilities, StreamEvent, UsageReport
from llmchat.core.token_probs import from_wire


class CompletionReader(ReplyReader):
    def take(self, sse: SSEEvent) -> list[StreamEvent]:
        self.saw_data = True
        if sse.event == "error":
            self.error = stream_error(sse.data, backend=self.backend, mask=self.mask)
            return []
        chunk = self.json_object(sse, "chunk")
        if chunk is None:
            return []
        if chunk.get("error"):
            self.error = stream_error(sse.data, backend=self.backend, mask=self.mask)
            return []
        events: list[StreamEvent] = []
        content = chunk.get("content")
        if isinstance(content, str) and content:
            self.wrote = True
            events.append(Delta(content))
            tokens = from_wire({"content": chunk.get("completion_probabilities")})
            if tokens:
                events.append(Probabilities(tokens))
        if chunk.get("stop") is True:
            self.finish_reason = "length" if chunk.get("stop_type") == "limit" else "stop"
            self._last(chunk)
        return events

    def _last(self, chunk: dict[str, Any]) -> None:
        prompt = int_or_none(chunk.get("tokens_evaluated"))
        completion = int_or_none(chunk.get("tokens_predicted"))
        if prompt is not None and completion is not None:
            self.usage = UsageReport(prompt_tokens=prompt, completion_tokens=completion)
        if isinstance(chunk.get("timings"), dict):
            self.timings = timings_of(chunk["timings"])
