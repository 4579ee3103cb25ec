"""Photo uploads (multipart/form-data) read as a stream, with a cap per file and per request.

The app's `BodySizeLimit` buffers every other body up to 1 MB; the upload routes (`is_upload`) are let
through unbuffered and read here chunk by chunk with python-multipart's push parser, so a 20 MB photo
is refused with 413 as soon as its part passes `upload_max_bytes`, without holding the rest of it, and
before any service function runs: nothing is half-done. Photos are kept in memory (at most
`upload_max_files` × `upload_max_bytes`) and handed to the feedback service as `Upload`s, which checks
their type and bytes again before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from urbanbrain.core.errors import MalformedRequestError, PayloadTooLargeError, ValidationError
from urbanbrain.govern.principals import Principal
from urbanbrain.operate.attachments import IMAGE_TYPES, Attachment, Upload, max_bytes, too_large

UPLOAD_PATH = re.compile(r"^(?:/api)?/cases/[^/]+/feedback$")
FILE_FIELDS = ("photos", "photo")
MAX_FIELD_BYTES = 64 * 1024  # a note is at most 5000 characters
MAX_FIELDS = 20


def is_multipart(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


def is_upload(scope: Scope) -> bool:
    """A request that an upload route reads as a stream itself (so the 1 MB body buffer lets it pass)."""
    if scope.get("method") != "POST" or not UPLOAD_PATH.match(scope.get("path", "")):
        return False
    ctype = next((v for k, v in scope.get("headers") or [] if k == b"content-type"), b"")
    return is_multipart(ctype.decode("latin-1"))


def request_cap() -> int:
    """The whole request at most: every photo at its limit plus room for the fields."""
    from urbanbrain.core.settings import get_settings

    return get_settings().upload_max_files * max_bytes() + 1024 * 1024


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Form:
    fields: dict[str, str]
    photos: list[Upload]


class _Collector:
    """python-multipart callbacks: headers into the current part, data counted against its cap."""

    def __init__(self) -> None:
        from urbanbrain.core.settings import get_settings

        self.fields: dict[str, str] = {}
        self.photos: list[Upload] = []
        self.part = _Part()
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.limit = max_bytes()
        self.most = get_settings().upload_max_files
        self.count = 0

    def on_part_begin(self) -> None:
        self.part = _Part()
        self.count += 1
        if self.count > MAX_FIELDS + self.most:
            raise ValidationError(f"the form has more than {MAX_FIELDS + self.most} parts")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[bytes(self.header_field).decode("latin-1").lower()] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.part.headers.get("content-disposition", b""))  # UTF-8 names: bytes
        self.part.name = options.get(b"name", b"").decode("utf-8", errors="replace")
        raw = options.get(b"filename")
        self.part.filename = raw.decode("utf-8", errors="replace") if raw is not None else None
        self.part.content_type = self.part.headers.get("content-type", b"").decode("latin-1")
        if self.part.filename is not None and self.part.name not in FILE_FIELDS:
            raise ValidationError(f"unexpected file field {self.part.name!r}", hint="send photos as `photos`")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        size = len(part.data) + (end - start)
        if part.filename is not None and size > self.limit:
            raise too_large(part.filename or "a photo")
        if part.filename is None and size > MAX_FIELD_BYTES:
            raise PayloadTooLargeError(f"form field {part.name!r} is over {MAX_FIELD_BYTES // 1024} KB")
        part.data += data[start:end]

    def on_part_end(self) -> None:
        part = self.part
        if part.filename is None:
            self.fields[part.name] = part.data.decode("utf-8", errors="replace")
            return
        if not part.filename and not part.data:  # a file input left empty in a browser form
            return
        if len(self.photos) >= self.most:
            raise ValidationError(f"more than {self.most} photos; one feedback may carry at most {self.most}")
        self.photos.append(Upload(part.filename or "photo", part.content_type, bytes(part.data)))


async def read_form(request: Request) -> Form:
    """The form's text fields and photos, or 413/400 with a clear message as soon as a limit is passed."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not options.get(b"boundary"):
        raise MalformedRequestError("photos are sent as multipart/form-data with a boundary",
                                    hint="e.g. curl -F note=... -F photos=@after.jpg")
    cap = request_cap()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise PayloadTooLargeError(f"the request is {int(declared) / 1e6:.1f} MB; at most {cap / 1e6:.1f} MB "
                                   f"({max_bytes() / (1024 * 1024):g} MB a photo)",
                                   hint="resize the photos before attaching them; nothing was changed")
    sink = _Collector()
    callbacks = {name: getattr(sink, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > cap:
                raise PayloadTooLargeError(f"the request is over {cap / 1e6:.1f} MB",
                                           hint="resize the photos before attaching them; nothing was changed")
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise MalformedRequestError(f"the form could not be read: {exc}") from None
    return Form(sink.fields, sink.photos)


async def feedback(request: Request, case_id: str, by: Principal) -> dict[str, Any]:
    """A feedback form with photos, for the API and the console alike: who may report back on this
    case is checked before the photos are read, then the form is read with its caps, then the one
    feedback transition runs (which checks everything again, in its transaction)."""
    from starlette.concurrency import run_in_threadpool

    from urbanbrain.operate.cases import check_transition, transition

    await run_in_threadpool(check_transition, case_id, "feedback", by)
    form = await read_form(request)
    raw = form.fields.get("version", "").strip()
    if raw and not raw.isdigit():
        raise ValidationError(f"version must be a whole number, not {raw!r}")
    version = int(raw) if raw else None
    return await run_in_threadpool(lambda: transition(case_id, "feedback", by, version=version,
                                                      note=form.fields.get("note", ""), photos=form.photos))


def attachment_response(att: Attachment) -> Response:
    """The bytes with headers that keep a browser from treating them as anything but the image they are."""
    from urllib.parse import quote

    image = att.content_type in IMAGE_TYPES
    ascii_name = att.name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    disposition = f"{'inline' if image else 'attachment'}; filename=\"{ascii_name}\"; " \
                  f"filename*=UTF-8''{quote(att.name, safe='')}"
    return Response(att.data, media_type=att.content_type, headers={
        "Content-Disposition": disposition, "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox", "Cache-Control": "private, max-age=300"})
