"""The latency chart of `inspect: latency`: one small Braille panel per measure, prompt
tokens across, drawn to the width it is given."""

from __future__ import annotations

import pytest

from llmchat.core.latency_chart import NARROWEST, PANEL_ROWS, latency_chart
from llmchat.core.turn_history import TurnFacts


def turn(
    number: int,
    prompt: int | None,
    ttft: float | None,
    prefill: float | None = None,
    tok_s: float | None = 40.0,
) -> TurnFacts:
    return TurnFacts(number, prompt, None, ttft, prefill, tok_s, "m")


GROWING = [turn(n, 200 * n, 50.0 * n, 40.0 * n) for n in range(1, 7)]


def dots(line: str) -> str:
    """The panel's cells (after the label and the axis)."""
    return line.split("│", 1)[1]


@pytest.mark.parametrize("width", [40, 60, 80, 132])
def test_every_line_fits_the_width(width: int) -> None:
    lines = latency_chart(GROWING, width)
    assert lines and all(len(line) <= width for line in lines)


def test_the_narrowest_chart_still_draws() -> None:
    assert all(len(line) <= NARROWEST for line in latency_chart(GROWING, 10))


def test_three_panels_ttft_prefill_and_decode_speed() -> None:
    text = "\n".join(latency_chart(GROWING, 60))
    assert "time to first token" in text
    assert "prefill" in text
    assert "decode speed" in text
    assert text.count("prompt tokens") == 3


def test_the_axes_say_the_prompt_range_and_the_highest_value() -> None:
    lines = latency_chart(GROWING, 60)
    assert lines[1].lstrip().startswith("300 ms")  # the top of the first panel
    assert lines[PANEL_ROWS].lstrip().startswith("0│")
    assert lines[PANEL_ROWS + 2].split() == ["200", "1,200", "prompt", "tokens"]


def test_a_prefill_that_grows_with_the_prompt_rises_to_the_right() -> None:
    panel = latency_chart(GROWING, 60)[1 : 1 + PANEL_ROWS]
    top, bottom = dots(panel[0]), dots(panel[-1])
    assert top.strip("\u2800")[-1:] and not top[: len(top) // 2].strip("\u2800")
    assert bottom[:2].strip("\u2800")  # the first turn sits low at the left


def test_a_cache_that_flattens_prefill_keeps_the_line_low() -> None:
    # Prefill stays small while the prompt grows: only the first turn is tall.
    flat = [turn(n, 300 * n, 100.0, 200.0 if n == 1 else 10.0) for n in range(1, 6)]
    lines = latency_chart(flat, 60)
    start = next(i for i, line in enumerate(lines) if line.startswith("prefill"))
    panel = lines[start + 1 : start + 1 + PANEL_ROWS]
    assert dots(panel[0])[:2].strip("\u2800")  # turn one at the top left
    assert not dots(panel[0])[4:].strip("\u2800")  # nothing else up there
    assert dots(panel[-1])[-2:].strip("\u2800")  # the last turn at the bottom right


def test_fewer_than_two_turns_with_a_prompt_size_say_so() -> None:
    [line] = latency_chart([turn(1, 100, 50.0)], 40)
    assert "needs two turns" in line and "has 1" in line
    [line] = latency_chart([turn(1, None, 50.0), turn(2, None, 60.0)], 40)
    assert "has 0" in line


def test_a_measure_the_backend_does_not_report_is_named_not_drawn() -> None:
    no_prefill = [turn(n, 100 * n, 30.0 * n, None) for n in range(1, 4)]
    lines = latency_chart(no_prefill, 50)
    said = "prefill (the server's own time): fewer than two turns report it"
    assert said in " ".join(lines)
    assert sum("│" in line for line in lines) == 2 * PANEL_ROWS  # two panels drawn


def test_turns_of_the_same_prompt_size_and_zero_values_draw() -> None:
    same = [turn(1, 500, 0.0, 0.0, 0.0), turn(2, 500, 0.0, 0.0, 0.0)]
    lines = latency_chart(same, 40)
    assert sum("│" in line for line in lines) == 3 * PANEL_ROWS


@pytest.mark.parametrize(
    ("ttft_ms", "label"),
    [
        (999.0, "999 ms"),
        (1234.0, "1.23 s"),
        (45_600.0, "45.60 s"),
        (1_500_000.0, "1500 s"),
        (15_000_000.0, "250 min"),
        (360_000_000.0, "100 h"),
    ],
)
def test_the_highest_value_is_rounded_to_fit_with_its_unit(ttft_ms: float, label: str) -> None:
    slow = [turn(1, 100, ttft_ms / 2), turn(2, 200, ttft_ms)]
    assert latency_chart(slow, 60)[1].split("│")[0].strip() == label


def test_a_decode_speed_too_long_for_the_label_is_rounded_not_cut() -> None:
    fast = [turn(1, 100, 1.0, 1.0, 5.0), turn(2, 200, 1.0, 1.0, 12_345_678.9)]
    lines = latency_chart(fast, 60)
    start = next(i for i, line in enumerate(lines) if line.startswith("decode speed"))
    assert lines[start + 1].split("│")[0].strip() == "1.2e+07"


def test_huge_prompt_sizes_on_the_narrowest_chart_are_shortened_not_run_together() -> None:
    huge = [turn(1, 1_000_000, 10.0, 5.0), turn(2, 1_000_000_000, 20.0, 9.0)]
    lines = latency_chart(huge, NARROWEST)
    assert all(len(line) <= NARROWEST for line in lines)
    assert lines[PANEL_ROWS + 2].split() == ["1,000k", "1,000M"]


def test_a_measure_not_reported_is_said_within_the_width() -> None:
    no_prefill = [turn(n, 100 * n, 30.0 * n, None) for n in range(1, 4)]
    lines = latency_chart(no_prefill, NARROWEST)
    assert all(len(line) <= NARROWEST for line in lines)
    assert "fewer than two turns report it" in " ".join(lines)
