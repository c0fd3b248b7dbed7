"""Finding sessions without reading every file, and never finding the wrong one for it.

`--continue` reads the modification times and the newest file; `--resume ID` reads first
lines (or the index) and the matching file; the picker reads only files that changed since
the last listing. Whatever the files or the index hold, the answers are those of reading
every file in full.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmchat.store import (
    AmbiguousSession,
    SessionNotFound,
    find_session,
    latest_session,
    list_sessions,
    session_index,
    session_list,
)
from llmchat.store.session_index import INDEX_NAME

T0 = 1_780_000_000  # fixed mtimes; the tests set times, they never wait for them
STAMP = "20260102T030405Z"


def header(session_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "session",
        "v": 1,
        "id": session_id,
        "created": "2026-01-02T03:04:05.000000Z",
        "title": fields.pop("title", ""),
        "backend": "local",
        "model": "qwen",
        "params": {},
        "system": fields.pop("system", ""),
        "forked_from": None,
        **fields,
    }


def message(n: int, role: str = "user") -> dict[str, Any]:
    return {"type": "message", "id": f"m{n}", "parent": None, "role": role, "content": f"c{n}"}


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def write(
    directory: Path,
    session_id: str,
    *,
    updated: int,
    records: list[dict[str, Any]] | None = None,
    raw: bytes | None = None,
    name: str | None = None,
) -> Path:
    """A session file as it would be on disk (`raw` for damaged ones), with its mtime set."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"{STAMP}-{session_id}.jsonl")
    if raw is None:
        raw = b"".join(line(r) for r in records or [header(session_id), message(1)])
    path.write_bytes(raw)
    os.utime(path, (updated, updated))
    return path


@pytest.fixture
def full_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files read in full (by the loader), in order."""
    reads: list[str] = []
    load = session_list.load_session

    def spy(path: Any) -> Any:
        reads.append(Path(path).name)
        return load(path)

    monkeypatch.setattr(session_list, "load_session", spy)
    return reads


@pytest.fixture
def trusting_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are seconds old; let the index remember them anyway."""
    monkeypatch.setattr(session_index, "_RACY_NS", 0)


def ids(directory: Path) -> list[str]:
    return [summary.id for summary in list_sessions(directory)]


# -- reading only what is needed ------------------------------------------------------


def test_continue_reads_only_the_newest_file(tmp_path: Path, full_reads: list[str]) -> None:
    for n in range(20):
        write(tmp_path, f"s{n:02}", updated=T0 + n)
    latest = latest_session(tmp_path)
    assert latest is not None and latest.id == "s19"
    assert full_reads == [f"{STAMP}-s19.jsonl"]


def test_resume_by_id_reads_only_the_matching_file(tmp_path: Path, full_reads: list[str]) -> None:
    for n in range(20):
        write(tmp_path, f"s{n:02}", updated=T0 + n)
    assert find_session(tmp_path, "s07").id == "s07"
    assert full_reads == [f"{STAMP}-s07.jsonl"]


@pytest.mark.usefixtures("trusting_index")
def test_a_second_listing_reads_no_unchanged_file(tmp_path: Path, full_reads: list[str]) -> None:
    for n in range(5):
        write(tmp_path, f"s{n}", updated=T0 + n)
    first = list_sessions(tmp_path)
    full_reads.clear()
    assert list_sessions(tmp_path) == first
    assert full_reads == []


@pytest.mark.usefixtures("trusting_index")
def test_a_listing_rereads_only_the_file_that_changed(
    tmp_path: Path, full_reads: list[str]
) -> None:
    for n in range(5):
        write(tmp_path, f"s{n}", updated=T0 + n)
    list_sessions(tmp_path)
    changed = write(tmp_path, "s2", updated=T0 + 99, records=[header("s2"), message(1), message(2)])
    full_reads.clear()
    listed = list_sessions(tmp_path)
    assert full_reads == [changed.name]
    assert (listed[0].id, listed[0].message_count) == ("s2", 2)


@pytest.mark.usefixtures("trusting_index")
def test_resume_by_id_uses_the_index_for_unchanged_files(
    tmp_path: Path, full_reads: list[str]
) -> None:
    # No header on the first line: without the index each would be read in full for its id.
    for n in range(5):
        write(tmp_path, f"s{n}", updated=T0 + n, raw=line(message(1)))
    list_sessions(tmp_path)
    full_reads.clear()
    assert find_session(tmp_path, "s3").id == "s3"
    assert full_reads == [f"{STAMP}-s3.jsonl"]


def test_files_written_moments_ago_are_not_remembered(
    tmp_path: Path, full_reads: list[str]
) -> None:
    # A same-size edit within the same tick of the filesystem's clock would not show in
    # the file's times, so a file changed within the last two seconds is always read.
    write(tmp_path, "s1", updated=int(time.time()))
    list_sessions(tmp_path)
    full_reads.clear()
    list_sessions(tmp_path)
    assert full_reads == [f"{STAMP}-s1.jsonl"]


# -- damaged and hand-edited files ----------------------------------------------------


def test_a_torn_last_line_does_not_hide_a_session(tmp_path: Path) -> None:
    raw = line(header("torn")) + line(message(1)) + b'{"type":"mess'
    write(tmp_path, "torn", updated=T0 + 5, raw=raw)
    write(tmp_path, "older", updated=T0)
    latest = latest_session(tmp_path)
    assert latest is not None and (latest.id, latest.warning_count) == ("torn", 1)
    assert find_session(tmp_path, "to").id == "torn"
    assert ids(tmp_path) == ["torn", "older"]


def test_a_torn_header_leaves_the_id_of_the_file_name(tmp_path: Path) -> None:
    write(tmp_path, "headless", updated=T0, raw=line(header("headless"))[:30])
    assert find_session(tmp_path, "head").id == "headless"
    assert ids(tmp_path) == ["headless"]


def test_a_file_without_a_header_is_found_by_the_id_in_its_name(tmp_path: Path) -> None:
    write(tmp_path, "noheader", updated=T0, raw=line(message(1)) + line(message(2)))
    summary = find_session(tmp_path, "nohead")
    assert (summary.id, summary.message_count) == ("noheader", 2)


def test_a_header_after_a_torn_first_line_gives_the_id(tmp_path: Path) -> None:
    # What resuming a file whose header was torn leaves: the header with the next record.
    raw = b'{"type":"sess\n' + line(header("later")) + line(message(1))
    write(tmp_path, "x", updated=T0, raw=raw, name=f"{STAMP}-namedid.jsonl")
    assert find_session(tmp_path, "later").id == "later"
    with pytest.raises(SessionNotFound):
        find_session(tmp_path, "namedid")


def test_a_renamed_file_is_found_by_its_header_id_not_its_name(tmp_path: Path) -> None:
    write(tmp_path, "real", updated=T0, name=f"{STAMP}-other.jsonl")
    assert find_session(tmp_path, "real").id == "real"
    with pytest.raises(SessionNotFound):
        find_session(tmp_path, "other")


def test_a_header_with_an_id_that_is_not_text_falls_back_to_the_name(tmp_path: Path) -> None:
    write(tmp_path, "byname", updated=T0, records=[header("x") | {"id": 7}, message(1)])
    assert find_session(tmp_path, "byname").id == "byname"


def test_blank_lines_before_the_header_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "x", updated=T0, raw=b"\n  \n" + line(header("blank")), name="a.jsonl")
    assert find_session(tmp_path, "blank").id == "blank"


def test_a_long_first_line_is_read_whole(tmp_path: Path) -> None:
    long_header = header("long", system="be brief. " * 5000)  # 50 KB
    write(tmp_path, "x", updated=T0, records=[long_header], name="a.jsonl")
    assert find_session(tmp_path, "long").id == "long"


def test_a_header_without_a_newline_is_still_the_header(tmp_path: Path) -> None:
    write(tmp_path, "x", updated=T0, raw=line(header("alone")).rstrip(), name="a.jsonl")
    assert find_session(tmp_path, "alone").id == "alone"


def test_two_files_claiming_one_id_are_ambiguous(tmp_path: Path) -> None:
    write(tmp_path, "twin", updated=T0)
    write(tmp_path, "twin", updated=T0 + 1, name="copy.jsonl")
    with pytest.raises(AmbiguousSession, match="2 sessions match 'twin'"):
        find_session(tmp_path, "twin")


def test_sessions_updated_at_the_same_moment_continue_as_the_picker_orders_them(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        "early",
        updated=T0,
        records=[header("early") | {"created": "2026-01-01T00:00:00Z"}],
    )
    write(
        tmp_path, "late", updated=T0, records=[header("late") | {"created": "2026-02-01T00:00:00Z"}]
    )
    latest = latest_session(tmp_path)
    assert latest is not None and latest.id == list_sessions(tmp_path)[0].id == "late"


@pytest.mark.usefixtures("trusting_index")
def test_an_edit_that_keeps_the_size_and_the_mtime_is_seen(tmp_path: Path) -> None:
    path = write(tmp_path, "edit", updated=T0, records=[header("edit", title="aaaa")])
    assert list_sessions(tmp_path)[0].title == "aaaa"
    time.sleep(0.05)  # past a tick of the filesystem's clock: the change time moves
    path.write_bytes(path.read_bytes().replace(b'"aaaa"', b'"bbbb"'))
    os.utime(path, (T0, T0))
    assert list_sessions(tmp_path)[0].title == "bbbb"


def test_every_way_in_agrees_with_reading_every_file(tmp_path: Path) -> None:
    write(tmp_path, "plain", updated=T0 + 1)
    write(tmp_path, "torn", updated=T0 + 2, raw=line(header("torn")) + b'{"ty')
    write(tmp_path, "nohdr", updated=T0 + 3, raw=line(message(1)))
    write(tmp_path, "moved", updated=T0 + 4, name=f"{STAMP}-elsewhere.jsonl")
    write(tmp_path, "junk", updated=T0 + 5, raw=b"\x00\xff\n[1]\n")
    listed = list_sessions(tmp_path)
    assert [s.id for s in listed] == ["junk", "moved", "nohdr", "torn", "plain"]
    assert latest_session(tmp_path) == listed[0]
    for summary in listed:
        assert find_session(tmp_path, summary.id) == summary


# -- an index that is wrong -----------------------------------------------------------


def edit_index(directory: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / INDEX_NAME
    index = json.loads(path.read_text())
    change(index["entries"])
    path.write_text(json.dumps(index))


@pytest.mark.usefixtures("trusting_index")
def test_an_index_that_swaps_two_sessions_is_not_believed(tmp_path: Path) -> None:
    first = write(tmp_path, "first", updated=T0, records=[header("first", title="One")])
    second = write(tmp_path, "second", updated=T0 + 1, records=[header("second", title="Two")])
    list_sessions(tmp_path)

    def swap(entries: dict[str, Any]) -> None:
        a, b = entries[first.name], entries[second.name]
        a["facts"], b["facts"] = b["facts"], a["facts"]

    edit_index(tmp_path, swap)
    assert [(s.id, s.title, s.path) for s in list_sessions(tmp_path)] == [
        ("second", "Two", second),
        ("first", "One", first),
    ]
    edit_index(tmp_path, swap)
    assert find_session(tmp_path, "first").path == first


@pytest.mark.usefixtures("trusting_index")
def test_an_index_wrong_about_a_renamed_file_is_not_believed(tmp_path: Path) -> None:
    path = write(tmp_path, "real", updated=T0, name="renamed.jsonl")
    write(tmp_path, "other", updated=T0 + 1)
    list_sessions(tmp_path)
    edit_index(tmp_path, lambda entries: entries[path.name]["facts"].update(id="other"))
    assert sorted(ids(tmp_path)) == ["other", "real"]
    assert find_session(tmp_path, "other").id == "other"


@pytest.mark.usefixtures("trusting_index")
def test_an_index_naming_files_that_are_gone_adds_no_session(tmp_path: Path) -> None:
    write(tmp_path, "kept", updated=T0)
    gone = write(tmp_path, "gone", updated=T0 + 1)
    list_sessions(tmp_path)
    gone.unlink()
    assert ids(tmp_path) == ["kept"]
    assert gone.name not in json.loads((tmp_path / INDEX_NAME).read_text())["entries"]


@pytest.mark.usefixtures("trusting_index")
def test_an_index_missing_a_file_hides_nothing(tmp_path: Path) -> None:
    write(tmp_path, "a", updated=T0)
    list_sessions(tmp_path)
    write(tmp_path, "b", updated=T0 + 1)
    edit_index(tmp_path, lambda entries: entries.clear())
    assert ids(tmp_path) == ["b", "a"]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b'{"v":1,"entries":{"x":',
        b"[1,2,3]",
        b'{"v":99,"entries":{}}',
        b'{"v":1,"entries":[]}',
        b'{"v":1,"entries":{"20260102T030405Z-a.jsonl":{"key":"nope","facts":7}}}',
    ],
)
def test_a_damaged_index_is_ignored(tmp_path: Path, content: bytes) -> None:
    write(tmp_path, "a", updated=T0, records=[header("a", title="Kept"), message(1)])
    (tmp_path / INDEX_NAME).write_bytes(content)
    [summary] = list_sessions(tmp_path)
    assert (summary.id, summary.title, summary.message_count) == ("a", "Kept", 1)
    assert find_session(tmp_path, "a").id == "a"


@pytest.mark.usefixtures("trusting_index")
def test_cached_facts_of_the_wrong_shape_are_read_again(tmp_path: Path) -> None:
    path = write(tmp_path, "a", updated=T0, records=[header("a", title="Kept"), message(1)])
    list_sessions(tmp_path)
    edit_index(tmp_path, lambda entries: entries[path.name]["facts"].update(messages="many"))
    [summary] = list_sessions(tmp_path)
    assert summary.message_count == 1


@pytest.mark.usefixtures("trusting_index")
def test_the_index_is_a_private_file_that_is_never_listed(tmp_path: Path) -> None:
    write(tmp_path, "a", updated=T0)
    list_sessions(tmp_path)
    index = tmp_path / INDEX_NAME
    assert index.stat().st_mode & 0o777 == 0o600
    assert ids(tmp_path) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_NAME, f"{STAMP}-a.jsonl"]


@pytest.mark.usefixtures("trusting_index")
def test_an_index_that_cannot_be_written_costs_only_speed(tmp_path: Path) -> None:
    write(tmp_path, "a", updated=T0)
    (tmp_path / INDEX_NAME).mkdir()  # neither readable nor replaceable as a file
    assert ids(tmp_path) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_NAME, f"{STAMP}-a.jsonl"]


def test_listing_an_empty_folder_writes_no_index(tmp_path: Path) -> None:
    assert list_sessions(tmp_path) == []
    assert not (tmp_path / INDEX_NAME).exists()


@pytest.mark.usefixtures("trusting_index")
def test_the_index_remembers_each_sessions_cost_and_first_line(
    tmp_path: Path, full_reads: list[str]
) -> None:
    priced = {**message(2, "assistant"), "cost_usd": 0.125}
    write(tmp_path, "s1", updated=T0, records=[header("s1"), message(1), priced])
    first = list_sessions(tmp_path)
    full_reads.clear()
    [cached] = list_sessions(tmp_path)
    assert full_reads == []
    assert [cached] == first
    assert (cached.cost_usd, cached.first_line) == (0.125, "c1")


@pytest.mark.usefixtures("trusting_index")
def test_an_index_of_the_previous_version_is_read_again_in_full(
    tmp_path: Path, full_reads: list[str]
) -> None:
    path = write(tmp_path, "s1", updated=T0)
    list_sessions(tmp_path)
    index = json.loads((tmp_path / INDEX_NAME).read_text())
    index["v"] = 1  # the facts of version 1 had no cost and no first line
    for entry in index["entries"].values():
        del entry["facts"]["cost"], entry["facts"]["first"]
    (tmp_path / INDEX_NAME).write_text(json.dumps(index))
    full_reads.clear()
    assert list_sessions(tmp_path)[0].first_line == "c1"
    assert full_reads == [path.name]
    assert json.loads((tmp_path / INDEX_NAME).read_text())["v"] == session_index.INDEX_VERSION


@pytest.mark.usefixtures("trusting_index")
@pytest.mark.parametrize("cost", [-1, "0.5", True, "NaN"])
def test_a_cached_cost_of_the_wrong_shape_is_read_again(
    tmp_path: Path, full_reads: list[str], cost: object
) -> None:
    path = write(tmp_path, "s1", updated=T0)
    list_sessions(tmp_path)

    def spoil(entries: dict[str, Any]) -> None:
        entries[path.name]["facts"]["cost"] = cost

    edit_index(tmp_path, spoil)
    full_reads.clear()
    assert list_sessions(tmp_path)[0].cost_usd is None
    assert full_reads == [path.name]
