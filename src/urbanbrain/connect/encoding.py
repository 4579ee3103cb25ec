"""Which text encoding a department's file uses, and a precise error when it is not that one.

Chinese government systems often export GBK; everything else is UTF-8, sometimes with a BOM (Excel's
"CSV UTF-8"). `auto` checks for the BOM, then tries strict UTF-8 on a sample, then falls back to
GB18030, a superset of GBK and GB2312 that decodes any of them. A wrong guess is never papered over
with replacement characters: decoding errors surface as `SourceFormatError` with the byte offset.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from urbanbrain.core.errors import SourceFormatError

SAMPLE_BYTES = 1 << 20
_CHUNK = 1 << 20


def normalise(encoding: str) -> str:
    """Canonical Python codec name (`GBK` → `gbk`, `utf8` → `utf-8`); `auto` stays `auto`."""
    if encoding.lower() == "auto":
        return "auto"
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise SourceFormatError(
            f"unknown text encoding {encoding!r}", hint="use e.g. 'utf-8', 'gbk', 'gb18030' or 'auto'"
        ) from exc


def detect(sample: bytes) -> str:
    """`utf-8-sig` for a BOM, `utf-8` if the sample decodes strictly, else `gb18030`."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def resolve(path: Path, requested: str) -> str:
    """The encoding to read `path` with: `requested`, or the detected one when it is `auto`."""
    requested = normalise(requested)
    if requested != "auto":
        return requested
    with path.open("rb") as fh:
        return detect(fh.read(SAMPLE_BYTES))


def decode_sample(path: Path, encoding: str, size: int = SAMPLE_BYTES) -> str:
    """The first `size` bytes as text (a cut multi-byte character at the end is dropped)."""
    with path.open("rb") as fh:
        data = fh.read(size)
    try:
        return codecs.getincrementaldecoder(encoding)("strict").decode(data, final=len(data) < size)
    except UnicodeDecodeError as exc:
        raise decode_error(path, encoding, exc.start, exc.reason) from exc


def find_error(path: Path, encoding: str) -> tuple[int, str] | None:
    """The byte offset and reason of the first decoding error in the file, or None."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return offset - pending + exc.start, exc.reason
            if not chunk:
                return None
            offset += len(chunk)


def decode_error(path: Path, encoding: str, offset: int | None = None, reason: str = "") -> SourceFormatError:
    """A `SourceFormatError` naming the file, the encoding and the byte offset of the bad bytes."""
    if offset is None:
        found = find_error(path, encoding)
        if found is not None:
            offset, reason = found
    where = f" at byte offset {offset}" if offset is not None else ""
    why = f" ({reason})" if reason else ""
    return SourceFormatError(
        f"{path} is not valid {encoding}{where}{why}",
        hint="set the 'encoding' option to the file's real encoding (e.g. 'gbk', 'gb18030', 'utf-8')",
        file=str(path),
        encoding=encoding,
        offset=offset,
    )
