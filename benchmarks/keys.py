"""Figure 10: keys handled in order, and how fast a burst of them gets through.

    python -m benchmarks.keys

llmchat hands out one key at a time (tui/key_order.py): the next goes to its widget only
when the previous has been handled or has run its binding. That costs a round trip per
key. This measures it in the real app against a loopback server: a burst of keys
arriving at once (as from a held key or a terminal that sends several in one read) is
typed into the message box, with a Backspace every tenth key, and the time until the
last one is in the box gives keys per second. The target is well above the fastest
stream of keys a terminal sends (key repeat, 30–50 a second): 300 keys a second. The
single-key figure is the time for one key typed into an idle app.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time

from textual import events

from llmchat.tui.app import LlmChatApp
from llmchat.tui.widgets.prompt_input import PromptInput

TARGET_KEYS_PER_S = 300.0
BURST = 200
RUNS = 5


def burst_keys() -> list[str]:
    keys: list[str] = []
    for n in range(BURST):
        keys.append("backspace" if n % 10 == 9 else "abcdefghij"[n % 10])
    return keys


def expected_text(keys: list[str]) -> str:
    text = ""
    for key in keys:
        text = text[:-1] if key == "backspace" else text + key
    return text


def send(app: LlmChatApp, keys: list[str]) -> None:
    driver = app._driver
    assert driver is not None
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        driver.send_message(event)


async def until(app: LlmChatApp, text: str, prompt: PromptInput) -> float:
    started = time.perf_counter()
    while prompt.text != text:
        await asyncio.sleep(0.001)
        if time.perf_counter() - started > 30:
            raise TimeoutError(f"got {prompt.text!r}")
    return time.perf_counter() - started


async def one_run() -> tuple[float, float]:
    from tests.support.openai_server import OpenAIServer
    from tests.tui.helpers import chat_app

    with OpenAIServer() as server:
        app = chat_app(server)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            await app.workers.wait_for_complete()
            prompt = app.screen.query_one(PromptInput)
            started = time.perf_counter()
            send(app, ["x"])
            await until(app, "x", prompt)
            single = time.perf_counter() - started
            prompt.clear()
            await pilot.pause(0.1)
            keys = burst_keys()
            started = time.perf_counter()
            send(app, keys)
            await until(app, expected_text(keys), prompt)
            burst = time.perf_counter() - started
    return single, BURST / burst


def main() -> None:
    os.environ["LLMCHAT_HOME"] = tempfile.mkdtemp(prefix="llmchat-bench-keys-")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLMCHAT_BACKEND", "LLMCHAT_MODEL"):
        os.environ.pop(name, None)
    runs = [asyncio.run(one_run()) for _ in range(RUNS)]
    single = statistics.median(r[0] for r in runs) * 1000
    rates = [r[1] for r in runs]
    rate = statistics.median(rates)
    status = "met" if rate >= TARGET_KEYS_PER_S else "MISSED"
    print(f"Keys typed into the message box, {RUNS} runs, all landed in the order typed")
    print(f"  one key into an idle app: median {single:.1f} ms")
    print(
        f"  10. burst of {BURST} keys: median {rate:.0f} keys/s "
        f"({min(rates):.0f}–{max(rates):.0f})  (target ≥ {TARGET_KEYS_PER_S:.0f})  {status}"
    )


if __name__ == "__main__":
    main()
