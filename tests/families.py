"""The fault suite's summary: one line per family of bad input (docs of bad-input.md).

A test joins a family with ``@pytest.mark.family("escapes")`` (or a module's
``pytestmark``); each case of a parametrised or batched test counts once. At the end of
the run every family prints ``escapes 41/41`` in the CI log, so a reader sees at a
glance which promise holds and which does not.
"""

from __future__ import annotations

from collections import Counter

import pytest

FAMILIES = (
    "escapes",
    "streams",
    "limits",
    "retries",
    "sessions",
    "signals",
    "secrets",
    "config",
)
"""Known families, in the order bad-input.md gives them; a typo'd name fails the test."""

_passed: Counter[str] = Counter()
_ran: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "family(name): the family of bad input this test proves (bad-input.md)"
    )


def _families(item: pytest.Item) -> list[str]:
    names = [str(mark.args[0]) for mark in item.iter_markers("family") if mark.args]
    unknown = [name for name in names if name not in FAMILIES]
    if unknown:
        raise pytest.UsageError(f"{item.nodeid}: unknown fault family {unknown}; see {FAMILIES}")
    return names


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        _families(item)  # a misspelt family stops the run before anything runs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    families = _families(item)
    if not families or report.skipped:
        return  # a skip proves nothing either way
    # A test counts once: failed if any phase failed, passed if its call passed.
    if report.when == "call" or (report.when == "setup" and not report.passed):
        for family in families:
            _ran[family] += 1
            if report.passed:
                _passed[family] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ran:
        return
    line = " · ".join(
        f"{family} {_passed[family]}/{_ran[family]}" for family in FAMILIES if _ran[family]
    )
    terminalreporter.write_sep("=", "fault families (bad-input.md)")
    terminalreporter.write_line(line)
