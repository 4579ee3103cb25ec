"""What `system add` can check at once, without logging in: the path exists, the URL parses, the host
resolves. A mistake found here costs the user one command instead of surfacing at the first discover
or sync; what cannot be checked without credentials is left to `system test`.
"""

from __future__ import annotations

import glob
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from urbanbrain.core.errors import ConfigurationError, ValidationError
from urbanbrain.core.secrets import redact_url

_SCHEMES = {
    "postgres": ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"),
    "mysql": ("mysql", "mariadb", "mysql+pymysql"),
    "rest": ("http", "https"),
}
_EXAMPLES = {
    "postgres": "postgresql://user:password@db.example.org:5432/dbname",
    "mysql": "mysql://user:password@db.example.org:3306/dbname",
    "rest": "https://api.example.org/v1",
}


def check_form(kind: str, options: dict[str, Any]) -> None:
    """The URL's form alone, before the source guards judge its host (a malformed URL is a typo to
    name, not a refused host). Paths are checked for existence only after the guards, so that the
    check cannot tell anyone what exists outside the allowed roots."""
    if kind in _SCHEMES:
        _parse_url(kind, str(options.get("url") or ""))


def precheck(kind: str, options: dict[str, Any]) -> list[str]:
    """Raise a `ValidationError` with a hint for what is wrong; return what was checked."""
    if kind == "files":
        return _check_path(str(options.get("path") or ""))
    if kind == "sqlite":
        raw = str(options.get("path") or options.get("url") or "")
        if raw.startswith("sqlite:///"):
            raw = raw[len("sqlite:///"):]
            raw = "/" + raw.lstrip("/") if not raw.startswith(".") else raw
        if not Path(raw).expanduser().is_file():
            raise ValidationError(f"SQLite file {raw} does not exist",
                                  hint="give the database file's absolute path: sqlite:////absolute/path.db")
        return [f"file {raw} exists"]
    if kind in _SCHEMES:
        return _check_url(kind, str(options.get("url") or ""))
    return []


def _check_path(raw: str) -> list[str]:
    path = os.path.expanduser(raw)
    if glob.has_magic(path):
        if glob.glob(path, recursive=True):
            return [f"{raw} matches {len(glob.glob(path, recursive=True))} path(s)"]
        folder = Path(path).parent
        while glob.has_magic(str(folder)):
            folder = folder.parent
        hint = "check the pattern" if folder.is_dir() else f"folder {folder} does not exist either"
        raise ValidationError(f"no file matches {raw!r}", hint=hint)
    if not Path(path).exists():
        parent = Path(path).parent
        hint = (f"{parent} exists but holds no {Path(path).name!r}" if parent.is_dir()
                else "check the path (absolute, or relative to where urbanbrain runs)")
        raise ValidationError(f"path {raw!r} does not exist", hint=hint)
    return [f"{'folder' if Path(path).is_dir() else 'file'} {raw} exists"]


def _check_url(kind: str, url: str) -> list[str]:
    parts = _parse_url(kind, url)
    host = parts.hostname
    try:
        socket.getaddrinfo(host, parts.port or None)
    except (socket.gaierror, UnicodeError):
        raise ValidationError(f"host {host!r} does not resolve",
                              hint="check the host name (and this machine's DNS)", host=host) from None
    return ["URL parses", f"host {host} resolves"]


def _parse_url(kind: str, url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES[kind] or not parts.hostname:
        raise ConfigurationError(f"{redact_url(url)!r} is not a {kind} URL",
                                 hint=f"use the form {_EXAMPLES[kind]}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigurationError(f"{redact_url(url)!r} has a port that is not a number",
                                 hint=f"use the form {_EXAMPLES[kind]}") from None
    return parts
