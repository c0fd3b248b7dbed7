"""Images attached to messages, each kept once by the SHA-256 of its bytes in a private
folder beside the sessions (`<sessions>/.images/`, 0700), so a resumed session can send
them again and a session file names them instead of holding them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

from llmchat.core.messages import ImageRef

FOLDER = ".images"
UNNAMED_GRACE_S = 3600.0
"""An image no session names yet is kept this long (its message may be on its way)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAMED = re.compile(rb'"sha256"\s*:\s*"([0-9a-f]{64})"')


class ImageStore:
    def __init__(self, sessions_dir: Path) -> None:
        self.root = sessions_dir / FOLDER

    def put(self, data: bytes, media_type: str, name: str) -> ImageRef:
        """Keep `data` (once: the same bytes attached again are not written again) and
        return what names it. Raises OSError when it cannot be written."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / digest
        if path.exists():
            # Kept fresh: a purge leaves alone what was attached a moment ago (its
            # message may not be written yet).
            with contextlib.suppress(OSError):
                os.utime(path)
        else:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            handle, temporary = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.chmod(temporary, 0o600)
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        return ImageRef(digest, media_type, name)

    def get(self, ref: ImageRef) -> bytes | None:
        """The image's bytes, or None if it is gone or no longer what the session names
        (a file edited or damaged by hand is not sent as if it were the image)."""
        if not _SHA256.fullmatch(ref.sha256):
            return None  # a hand-edited record must not name a path
        try:
            data = (self.root / ref.sha256).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == ref.sha256 else None

    def unused(self, referenced: set[str], *, older_than: float = 0.0) -> list[Path]:
        """The stored images no session refers to, kept for more than `older_than`
        seconds (an image attached just now may not be named in its session yet)."""
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return []
        cutoff = time.time() - older_than
        unused = []
        for path in entries:
            if not _SHA256.fullmatch(path.name) or path.name in referenced:
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    unused.append(path)
        return unused

    def forget_unused(self, sessions: list[Path]) -> int:
        """Delete the stored images none of `sessions` names; how many were deleted.

        A session names an image by `"sha256": "<hex>"` in its file: the files are
        searched for that, not parsed, so a purge over many sessions stays quick. A file
        that cannot be read keeps every image (nothing is deleted then: better an image
        too many than one a session still needs)."""
        referenced: set[str] = set()
        for path in sessions:
            try:
                data = path.read_bytes()
            except OSError:
                return 0
            referenced.update(m.decode() for m in _NAMED.findall(data))
        deleted = 0
        for path in self.unused(referenced, older_than=UNNAMED_GRACE_S):
            try:
                path.unlink()
            except OSError:
                continue
            deleted += 1
        return deleted
