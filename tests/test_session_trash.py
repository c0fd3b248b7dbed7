"""Deleting sessions to the trash beside them, restoring them, emptying the trash."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from llmchat.core.conversation import Conversation
from llmchat.core.messages import Message, Role
from llmchat.core.records import SessionInfo
from llmchat.store import (
    SessionFile,
    SessionLocked,
    SessionNotFound,
    list_sessions,
    load_session,
    session_index,
)
from llmchat.store.image_store import UNNAMED_GRACE_S, ImageStore
from llmchat.store.session_index import INDEX_NAME
from llmchat.store.session_open import resume_session, start_session
from llmchat.store.session_title import retitle_session
from llmchat.store.session_trash import (
    TrashError,
    move_to_trash,
    purge_trash,
    restore,
    trash_dir,
)


def saved(directory: Path, session_id: str, text: str = "hello") -> Path:
    """A session written by the real writer, closed again."""
    conversation = Conversation(SessionInfo(id=session_id, created="2026-01-02T03:04:05Z"))
    with start_session(directory, conversation) as opened:
        conversation.add_user(text)
        return opened.path


def test_a_deleted_session_leaves_the_list_for_the_trash(tmp_path: Path) -> None:
    path = saved(tmp_path, "gone")
    saved(tmp_path, "kept")
    trashed = move_to_trash(path)
    assert [s.id for s in list_sessions(tmp_path)] == ["kept"]
    assert trashed.original == path
    assert trashed.trashed == tmp_path / ".trash" / path.name
    assert load_session(trashed.trashed).info.id == "gone"


def test_the_trash_is_a_private_folder(tmp_path: Path) -> None:
    move_to_trash(saved(tmp_path, "gone"))
    assert stat.S_IMODE(os.stat(trash_dir(tmp_path)).st_mode) == 0o700


def test_a_deleted_session_is_forgotten_by_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_index, "_RACY_NS", 0)  # remember a file seconds old
    path = saved(tmp_path, "gone")
    list_sessions(tmp_path)
    assert path.name in json.loads((tmp_path / INDEX_NAME).read_text())["entries"]
    move_to_trash(path)
    assert path.name not in json.loads((tmp_path / INDEX_NAME).read_text())["entries"]


def test_a_session_open_for_writing_cannot_be_deleted(tmp_path: Path) -> None:
    path = saved(tmp_path, "busy")
    with resume_session(path), pytest.raises(SessionLocked, match="open in llmchat"):
        move_to_trash(path)
    assert [s.id for s in list_sessions(tmp_path)] == ["busy"]


def test_deleting_a_session_that_is_gone_says_so(tmp_path: Path) -> None:
    path = saved(tmp_path, "gone")
    path.unlink()
    with pytest.raises(SessionNotFound, match="gone already"):
        move_to_trash(path)


def test_a_restored_session_is_listed_again_with_everything_in_it(tmp_path: Path) -> None:
    path = saved(tmp_path, "back", "every word")
    before = path.read_bytes()
    restore(move_to_trash(path))
    assert path.read_bytes() == before
    assert [s.id for s in list_sessions(tmp_path)] == ["back"]
    assert list(trash_dir(tmp_path).iterdir()) == []


def test_a_session_is_not_restored_over_a_file_that_took_its_name(tmp_path: Path) -> None:
    path = saved(tmp_path, "twice", "the first")
    trashed = move_to_trash(path)
    path.write_bytes(b"someone else's\n")
    with pytest.raises(TrashError, match="there again"):
        restore(trashed)
    assert path.read_bytes() == b"someone else's\n"
    assert load_session(trashed.trashed).messages[0].content == "the first"


def test_restoring_what_the_trash_no_longer_holds_says_so(tmp_path: Path) -> None:
    trashed = move_to_trash(saved(tmp_path, "purged"))
    purge_trash(tmp_path)
    with pytest.raises(TrashError, match="no longer in the trash"):
        restore(trashed)


def test_a_name_taken_in_the_trash_gets_a_number(tmp_path: Path) -> None:
    path = saved(tmp_path, "again", "first")
    first = move_to_trash(path)
    path.write_bytes(first.trashed.read_bytes())
    second = move_to_trash(path)
    assert first.trashed != second.trashed
    assert second.trashed.parent == trash_dir(tmp_path)
    assert sorted(p.name for p in trash_dir(tmp_path).iterdir()) == sorted(
        [first.trashed.name, second.trashed.name]
    )


def test_purging_deletes_every_trashed_session_and_counts_them(tmp_path: Path) -> None:
    for n in range(3):
        move_to_trash(saved(tmp_path, f"s{n}"))
    saved(tmp_path, "kept")
    assert purge_trash(tmp_path) == 3
    assert list(trash_dir(tmp_path).iterdir()) == []
    assert [s.id for s in list_sessions(tmp_path)] == ["kept"]


def test_purging_without_a_trash_deletes_nothing(tmp_path: Path) -> None:
    assert purge_trash(tmp_path) == 0


# -- renaming a session that is not open ---------------------------------------------


def test_a_closed_session_is_renamed_by_a_title_record(tmp_path: Path) -> None:
    path = saved(tmp_path, "named")
    assert retitle_session(path, "  A   better   title ") == "A better title"
    loaded = load_session(path)
    assert loaded.title == "A better title"
    assert loaded.warnings == []
    assert json.loads(path.read_bytes().splitlines()[-1])["type"] == "title"


def test_an_empty_or_unchanged_title_writes_nothing(tmp_path: Path) -> None:
    path = saved(tmp_path, "same")
    retitle_session(path, "Same")
    before = path.read_bytes()
    assert retitle_session(path, "Same") == "Same"
    assert retitle_session(path, "   ") == "Same"
    assert path.read_bytes() == before


def test_a_session_open_elsewhere_is_not_renamed(tmp_path: Path) -> None:
    path = saved(tmp_path, "busy")
    before = path.read_bytes()
    with SessionFile(path), pytest.raises(SessionLocked):
        retitle_session(path, "Mine now")
    assert path.read_bytes() == before


def test_a_renamed_session_keeps_its_messages(tmp_path: Path) -> None:
    path = saved(tmp_path, "kept", "the words")
    retitle_session(path, "Renamed")
    [message] = load_session(path).messages
    assert (message.role, message.content) == (Role.USER, "the words")
    assert isinstance(message, Message)


def with_image(directory: Path, session_id: str, data: bytes) -> Path:
    """A session whose first message carries an image kept beside the sessions."""
    ref = ImageStore(directory).put(data, "image/png", f"{session_id}.png")
    conversation = Conversation(SessionInfo(id=session_id, created="2026-01-02T03:04:05Z"))
    with start_session(directory, conversation) as opened:
        conversation.add_user("look", images=(ref,))
        return opened.path


def test_purging_the_trash_removes_the_images_only_its_sessions_named(tmp_path: Path) -> None:
    shared, own, kept = b"\x89PNG shared", b"\x89PNG only the purged", b"\x89PNG kept"
    purged = with_image(tmp_path, "aaaa1111", own)
    with_image(tmp_path, "bbbb2222", kept)
    with_image(tmp_path, "cccc3333", shared)
    also_purged = with_image(tmp_path, "dddd4444", shared)
    move_to_trash(purged)
    move_to_trash(also_purged)
    long_ago = time.time() - 2 * UNNAMED_GRACE_S
    for image in ImageStore(tmp_path).root.iterdir():
        os.utime(image, (long_ago, long_ago))
    just_attached = ImageStore(tmp_path).put(b"\x89PNG on its way", "image/png", "new.png")
    assert purge_trash(tmp_path) == 2
    left = {p.read_bytes() for p in ImageStore(tmp_path).root.iterdir()}
    # The shared one is still named by a session here; the one attached a moment ago
    # may not be written into its session yet.
    assert left == {kept, shared, b"\x89PNG on its way"}
    assert just_attached.sha256 in {p.name for p in ImageStore(tmp_path).root.iterdir()}
