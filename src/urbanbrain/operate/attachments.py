"""Photos a department attaches when reporting back on a case, stored under URBANBRAIN_HOME.

Checked before anything is written: an image type from a short allow-list, bytes that really are that
image (sniffed, never trusted from the client's label), at most `upload_max_bytes` (10 MB: a phone
photo, not a video). The bytes go to a content-addressed file and the row is added in the same
transaction as the feedback transition that cites it; a file this transaction created is removed again
if the transaction does not commit (`forget`), so a refused feedback leaves no row, no file and no
history. Reading one back goes through `open_attachment`: the case's read rule, an audit entry, and a
content type taken from the bytes, so an attachment can never be served as HTML or script.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from urbanbrain.core.errors import NotFoundError, PayloadTooLargeError, ValidationError
from urbanbrain.core.settings import get_settings

if TYPE_CHECKING:
    from urbanbrain.govern.principals import Principal

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Upload:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Attachment:
    """One attachment as served: the stored name, the type sniffed from its bytes, the bytes."""

    id: str
    case_id: str
    name: str
    content_type: str
    data: bytes


def max_bytes() -> int:
    return get_settings().upload_max_bytes


def too_large(name: str, size: int | None = None) -> PayloadTooLargeError:
    """The one wording of an over-size photo, whether counted while streaming (`size` unknown) or after."""
    limit = max_bytes()
    mb = f"{limit / (1024 * 1024):g}"
    what = f"{name} is {size / 1e6:.1f} MB" if size is not None else f"{name} is larger than {mb} MB"
    return PayloadTooLargeError(f"{what}; a photo may be at most {mb} MB",
                                hint="resize the photo before attaching it; nothing was changed")


def sniff(data: bytes) -> str | None:
    """The image type the bytes are (by their signature), or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def declared_type(content_type: str) -> str:
    """The client's label without parameters, lower case, common aliases folded."""
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def safe_name(name: str) -> str:
    """The file's own name only: no folders (`../`, `C:\\`), no control characters, at most 200 characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>')
    return base.strip(" .")[:200] or "photo"


def check(upload: Upload) -> str:
    """The content's sha256, or a clear error naming the file."""
    if len(upload.data) > max_bytes():
        raise too_large(upload.name, len(upload.data))
    kind = declared_type(upload.content_type)
    if kind not in IMAGE_TYPES:
        raise ValidationError(f"{upload.name}: {upload.content_type or 'no type'} is not accepted",
                              hint=f"attach a photo: one of {', '.join(IMAGE_TYPES)}")
    if not upload.data:
        raise ValidationError(f"{upload.name} is empty")
    if sniff(upload.data) != kind:
        raise ValidationError(f"{upload.name} does not look like {kind}",
                              hint="its bytes are not that kind of image; attach the photo itself")
    return hashlib.sha256(upload.data).hexdigest()


def path_of(digest: str) -> Path:
    if not _DIGEST.match(digest):  # the digest comes from our own row, but a path is built from it
        raise ValidationError("not an attachment digest")
    return get_settings().home_dir / "attachments" / digest[:2] / digest


def store(upload: Upload, digest: str) -> Path | None:
    """Write the bytes under their digest; the path when this call created the file (for `forget`)."""
    path = path_of(digest)
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{digest}.{id(upload)}.tmp")
    tmp.write_bytes(upload.data)
    tmp.replace(path)
    return path


def forget(paths: list[Path]) -> None:
    """Remove files written for a transaction that did not commit, unless a committed row cites them
    (the same photo attached to another case meanwhile)."""
    from sqlalchemy import select

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import CaseAttachment

    if not paths:
        return
    with session_scope() as s:
        cited = set(s.scalars(select(CaseAttachment.sha256).where(CaseAttachment.sha256.in_([p.name for p in paths]))))
    for path in paths:
        if path.name not in cited:
            path.unlink(missing_ok=True)


def list_for(case_id: str) -> list[dict[str, object]]:
    """A case's attachments, oldest first (callers have already applied the case's read rule)."""
    from sqlalchemy import select

    from urbanbrain.core.clock import as_utc
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import CaseAttachment

    with session_scope() as s:
        rows = s.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case_id)
                         .order_by(CaseAttachment.created_at, CaseAttachment.id))
        return [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size,
                 "created_at": as_utc(a.created_at).isoformat(),
                 "url": f"/api/cases/{case_id}/attachments/{a.id}"} for a in rows]


def open_attachment(case_id: str, attachment_id: str, by: Principal) -> Attachment:
    """One attachment of one case, for whoever may read the case; audited.

    The attachment must belong to `case_id` (another case's attachment through this case's URL is
    "not found", as is an id that does not exist); the file is found by the row's digest, never by
    anything in the request, so `../` in an id names no file.
    """
    from urbanbrain.core.errors import PermissionDeniedError
    from urbanbrain.govern import audit
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case, CaseAttachment
    from urbanbrain.operate.cases import may_read

    with session_scope() as s:
        c = s.get(Case, case_id)
        if c is None:
            raise NotFoundError(f"no case {case_id!r}")
        if not may_read(by, c):
            raise PermissionDeniedError(f"{by.label} may not see case {case_id}",
                                        hint="cases are visible to the operations centre and the owning department")
        row = s.get(CaseAttachment, attachment_id) if len(attachment_id) <= 40 else None
        if row is None or row.case_id != case_id:
            raise NotFoundError(f"case {case_id} has no attachment {attachment_id!r}")
        path = path_of(row.sha256)
        if not path.is_file():
            raise NotFoundError(f"the file of attachment {attachment_id} is missing",
                                hint="it was removed from URBANBRAIN_HOME/attachments")
        data = path.read_bytes()
        audit.record(by, "case.attachment.read", f"case:{case_id}",
                     {"attachment": row.id, "name": row.name, "size": row.size}, session=s)
        return Attachment(row.id, case_id, row.name, sniff(data) or "application/octet-stream", data)
