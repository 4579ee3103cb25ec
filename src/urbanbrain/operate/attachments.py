"""Photos and documents a department attaches when reporting back, stored under URBANBRAIN_HOME.

Checked before anything is written (type, size ≤ 5 MB — a phone photo, not a video); the bytes go to a
content-addressed file, and the row is added in the same transaction as the feedback transition that
cites it, so a refused photo leaves no row, no file reference and no half-done feedback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from urbanbrain.core.errors import PayloadTooLargeError, ValidationError
from urbanbrain.core.settings import get_settings

MAX_BYTES = 5 * 1024 * 1024
TYPES = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG", "image/webp": b"RIFF", "application/pdf": b"%PDF"}


@dataclass(frozen=True)
class Upload:
    name: str
    content_type: str
    data: bytes


def check(upload: Upload) -> str:
    """The content's sha256, or a clear error naming the file."""
    if len(upload.data) > MAX_BYTES:
        raise PayloadTooLargeError(f"{upload.name} is {len(upload.data) / 1e6:.1f} MB; attachments may be at most "
                                   f"{MAX_BYTES // (1024 * 1024)} MB", hint="resize the photo before attaching it")
    magic = TYPES.get(upload.content_type)
    if magic is None:
        raise ValidationError(f"{upload.name}: {upload.content_type} is not accepted",
                              hint=f"attach one of {', '.join(TYPES)}")
    if not upload.data.startswith(magic):
        raise ValidationError(f"{upload.name} does not look like {upload.content_type}")
    return hashlib.sha256(upload.data).hexdigest()


def store(upload: Upload, digest: str) -> None:
    path = get_settings().home_dir / "attachments" / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(upload.data)
        tmp.replace(path)
