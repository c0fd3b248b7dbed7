"""Attaching files to a message: text goes in as a fenced block headed by the file's
name; images are recognised by their bytes; other binaries are refused, plainly."""

from __future__ import annotations

import os
import stat
from base64 import b64encode
from hashlib import sha256
from pathlib import Path

import pytest

from llmchat.backends.anthropic import AnthropicBackend
from llmchat.config import ConfigError, parse_config
from llmchat.core.attachments import (
    TEXT_LIMIT_BYTES,
    AttachmentError,
    ImageFile,
    TextFile,
    read_attachment,
    with_files,
)
from llmchat.core.conversation import Conversation
from llmchat.core.messages import ImageRef
from llmchat.core.params import SamplingParams
from llmchat.core.request import ChatRequest, WireImage, WireMessage
from llmchat.store import load_session
from llmchat.store.image_store import ImageStore
from llmchat.store.session_format import checked_message, sound_message
from tests.support.openai_server import OpenAIServer
from tests.test_cli import llmchat, sessions

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(32)


def test_a_text_file_goes_in_as_a_block_headed_by_its_name(tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n\n- ship it\n", encoding="utf-8")
    attached = read_attachment(notes)
    assert attached == TextFile("notes.md", "# Plan\n\n- ship it\n")
    assert with_files("Summarise this.", [attached]) == (
        "notes.md\n```\n# Plan\n\n- ship it\n```\n\nSummarise this."
    )


def test_a_file_holding_code_fences_cannot_close_its_block_early() -> None:
    readme = TextFile("README.md", "Run:\n```sh\nmake\n```\nand ````four```` too")
    sent = with_files("", [readme])
    assert sent.startswith("README.md\n`````\n")
    assert sent.endswith("\n`````")


def test_several_files_come_in_the_order_given_before_the_text() -> None:
    sent = with_files("Compare them.", [TextFile("a.py", "x = 1\n"), TextFile("b.py", "x = 2")])
    assert sent.index("a.py") < sent.index("b.py") < sent.index("Compare them.")


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(40), "image/jpeg"),
        (b"GIF89a" + bytes(40), "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40), "image/webp"),
    ],
)
def test_images_are_told_by_their_bytes_not_their_name(
    tmp_path: Path, head: bytes, media_type: str
) -> None:
    path = tmp_path / "picture.txt"  # a misleading name
    path.write_bytes(head)
    attached = read_attachment(path)
    assert isinstance(attached, ImageFile)
    assert attached.media_type == media_type
    assert attached.data == head


@pytest.mark.family("limits")
@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(100), "a binary file, not text or an image"),
        (b"caf\xe9 latin-1", r"not UTF-8 text \(byte 3 cannot be read\)"),
    ],
    ids=["binary", "latin-1"],
)
def test_a_binary_that_is_not_an_image_is_refused_saying_what_it_is(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "thing"
    path.write_bytes(content)
    with pytest.raises(AttachmentError, match=says):
        read_attachment(path)


@pytest.mark.family("limits")
def test_a_text_file_too_large_for_any_window_is_refused_with_the_sizes(tmp_path: Path) -> None:
    path = tmp_path / "huge.log"
    path.write_bytes(b"line\n" * (TEXT_LIMIT_BYTES // 5 + 1))
    with pytest.raises(AttachmentError, match=r"too large to attach \(4\.0 MB; .* 4\.0 MB"):
        read_attachment(path)


@pytest.mark.family("limits")
def test_a_folder_or_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AttachmentError, match="No such file"):
        read_attachment(tmp_path / "missing.txt")
    with pytest.raises(AttachmentError, match=r"Is a directory|not a regular file"):
        read_attachment(tmp_path)


@pytest.mark.family("limits")
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "fifo"
    os.mkfifo(pipe)
    with pytest.raises(AttachmentError, match="not a regular file"):
        read_attachment(pipe)


# -- from the command line ---------------------------------------------------------------


def test_print_mode_sends_attached_files_and_saves_them_in_the_message(
    server: OpenAIServer, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The deadline is Friday.\n", encoding="utf-8")
    result = llmchat(
        "-p",
        "When is the deadline?",
        "-a",
        str(notes),
        home=tmp_path / "home",
        env={"OPENAI_BASE_URL": server.base_url},
    )
    assert result.returncode == 0, result.stderr
    [asked] = server.chat_requests
    sent = asked.body["messages"][-1]["content"]
    assert sent == "notes.txt\n```\nThe deadline is Friday.\n```\n\nWhen is the deadline?"
    [summary] = sessions(tmp_path / "home")
    assert summary.message_count == 2


@pytest.mark.family("limits")
def test_print_mode_refuses_a_binary_before_anything_is_sent(
    server: OpenAIServer, tmp_path: Path
) -> None:
    blob = tmp_path / "a.out"
    blob.write_bytes(b"\x7fELF" + bytes(64))
    result = llmchat(
        "-p", "hi", "-a", str(blob), home=tmp_path, env={"OPENAI_BASE_URL": server.base_url}
    )
    assert result.returncode == 2
    assert "a binary file, not text or an image" in result.stderr
    assert server.chat_requests == []


# -- images ------------------------------------------------------------------------------


def image_home(tmp_path: Path) -> tuple[Path, Path]:
    picture = tmp_path / "chart.png"
    picture.write_bytes(PNG)
    return tmp_path / "home", picture


def test_print_mode_sends_an_image_as_a_data_url_part_and_keeps_it_once(
    server: OpenAIServer, tmp_path: Path
) -> None:
    home, picture = image_home(tmp_path)
    env = {"OPENAI_BASE_URL": server.base_url}
    result = llmchat("-p", "What does it show?", "-a", str(picture), home=home, env=env)
    assert result.returncode == 0, result.stderr
    [asked] = server.chat_requests
    text, image = asked.body["messages"][-1]["content"]
    assert text == {"type": "text", "text": "What does it show?"}
    assert image["type"] == "image_url"
    assert image["image_url"]["url"] == "data:image/png;base64," + b64encode(PNG).decode()

    [summary] = sessions(home)
    loaded = load_session(summary.path)
    [ref] = loaded.messages[0].images
    assert (ref.sha256, ref.media_type, ref.name) == (
        sha256(PNG).hexdigest(),
        "image/png",
        "chart.png",
    )
    assert b64encode(PNG).decode() not in summary.path.read_text()  # named, not held
    folder = summary.path.parent / ".images"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / ref.sha256).read_bytes() == PNG
    assert stat.S_IMODE((folder / ref.sha256).stat().st_mode) == 0o600


def test_a_continued_session_sends_the_image_again(server: OpenAIServer, tmp_path: Path) -> None:
    home, picture = image_home(tmp_path)
    env = {"OPENAI_BASE_URL": server.base_url}
    llmchat("-p", "What does it show?", "-a", str(picture), home=home, env=env)
    result = llmchat("--continue", "-p", "And the colours?", home=home, env=env)
    assert result.returncode == 0, result.stderr
    first = server.chat_requests[-1].body["messages"][0]["content"]
    assert [part["type"] for part in first] == ["text", "image_url"]


@pytest.mark.family("sessions")
def test_an_image_gone_from_its_folder_is_named_as_missing_not_silently_dropped(
    server: OpenAIServer, tmp_path: Path
) -> None:
    home, picture = image_home(tmp_path)
    env = {"OPENAI_BASE_URL": server.base_url}
    llmchat("-p", "What does it show?", "-a", str(picture), home=home, env=env)
    [summary] = sessions(home)
    for kept in (summary.path.parent / ".images").iterdir():
        kept.write_bytes(b"edited by hand")  # no longer the image the session names
    llmchat("--continue", "-p", "Again?", home=home, env=env)
    first = server.chat_requests[-1].body["messages"][0]
    assert first["content"] == "What does it show?\n\n[image chart.png is missing]"


@pytest.mark.family("sessions")
def test_an_image_record_naming_a_path_is_never_read(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    secret = tmp_path / "secret"
    secret.write_bytes(b"private")
    assert store.get(ImageRef("../secret", "image/png", "x")) is None
    ref = store.put(PNG, "image/png", "a.png")
    assert store.put(PNG, "image/png", "again.png").sha256 == ref.sha256  # kept once
    assert store.get(ref) == PNG
    assert len(list(store.root.iterdir())) == 1


def test_anthropic_gets_the_image_block_before_the_text() -> None:
    backend = AnthropicBackend("claude", "http://127.0.0.1:1/v1", "claude-test")
    message = WireMessage("user", "What is it?", (WireImage("image/png", PNG),))
    body = backend.request_body(ChatRequest(messages=(message,), params=SamplingParams()))
    image, text = body["messages"][0]["content"]
    assert image == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": b64encode(PNG).decode()},
    }
    assert text["text"] == "What is it?"
    assert "cache_control" in text  # the last user turn is still the cached prefix's end


def test_a_backend_set_not_to_take_images_refuses_them_before_sending(
    server: OpenAIServer, tmp_path: Path
) -> None:
    home, picture = image_home(tmp_path)
    home.mkdir()
    config = home / "config.toml"
    config.write_text(
        f'[backends.text]\nbase_url = "{server.base_url}"\nmodel = "m"\nvision = false\n',
        encoding="utf-8",
    )
    result = llmchat(
        "-p", "What is it?", "-a", str(picture), home=home, env={"LLMCHAT_CONFIG": str(config)}
    )
    assert result.returncode != 0
    assert "text is set not to take images (vision = false" in result.stderr
    assert server.chat_requests == []


@pytest.mark.family("config")
def test_vision_must_be_true_or_false(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[backends.x]\nbase_url = "http://h/v1"\nvision = "yes"\n', tmp_path / "c")
    assert caught.value.key == "backends.x.vision"
    assert "expected true or false, got a string" in caught.value.message


@pytest.mark.family("sessions")
@pytest.mark.parametrize(
    "entry",
    [
        {"sha256": "ab" * 32, "media_type": ["image/png"], "name": "a"},
        {"sha256": "ab" * 32, "media_type": {"image/png": 1}, "name": "a"},
    ],
    ids=["type-list", "type-dict"],
)
def test_an_image_entry_of_the_wrong_shape_is_dropped_with_a_warning_not_a_crash(
    tmp_path: Path, entry: dict[str, object]
) -> None:
    record = {"type": "message", "id": "m1", "role": "user", "content": "hi", "ts": "t"}
    record["images"] = [entry]
    warnings: list[str] = []
    message = checked_message(record, warnings.append)
    assert message.images == () and warnings
    assert sound_message(record) is None


@pytest.mark.family("limits")
def test_a_request_carries_a_bounded_weight_of_images_and_names_the_rest() -> None:
    conversation = Conversation()
    big = b"\x89PNG" + bytes(20 * 1024 * 1024)
    conversation.image_data = lambda ref: big
    refs = tuple(ImageRef(f"{n:064x}", "image/png", f"p{n}.png") for n in range(5))
    conversation.add_user("look", images=refs)
    [message] = conversation.build_request().messages
    assert len(message.images) == 2  # 40 of the 50 MB a request may hold
    assert message.content.count("not sent: the request holds 50 MB of images") == 3


@pytest.mark.family("limits")
def test_too_many_image_entries_are_cut_with_a_warning() -> None:
    record = {"type": "message", "id": "m1", "role": "user", "content": "hi", "ts": "t"}
    record["images"] = [{"sha256": "ab" * 32, "media_type": "image/png", "name": "a"}] * 150
    warnings: list[str] = []
    message = checked_message(record, warnings.append)
    assert len(message.images) == 100
    assert any("50 image entries past the first 100" in w for w in warnings)
