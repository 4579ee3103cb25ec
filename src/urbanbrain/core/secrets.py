"""Secrets at rest: connection passwords and API tokens are Fernet-encrypted in the metadata store.

The key comes from `URBANBRAIN_SECRET_KEY` or a key file (mode 0600) created under home on first run.
`redact` is the one function every log line, CLI output and error message goes through for URLs.
"""

from __future__ import annotations

import json
import os
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet, InvalidToken

from urbanbrain.core.errors import SecretError
from urbanbrain.core.settings import get_settings

SECRET_KEYS = {"password", "token", "api_key", "apikey", "secret", "bearer", "passwd", "key_value"}


def _key() -> bytes:
    """The installation's key. The key file is read once per (path, inode, mtime, size) and not on every
    call: the audit chain signs every Open311 report under a key derived from it, and opening, reading
    and `mkdir`-ing home for each one cost ~0.25 ms of a ~1.5 ms request (bench/cases). A file replaced or
    rewritten has a new inode or mtime, so it is read again."""
    settings = get_settings()
    if settings.secret_key:
        return settings.secret_key.encode()
    home = settings.home
    path = _key_path(str(home), "" if home.is_absolute() else os.getcwd())
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _create_key(settings.home_dir / "secret.key")
    stamp = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)
    key = _KEYS.get(stamp)
    if key is None:
        key = _wait_for_key(path)
        if st.st_size:  # a file still being written by its creator is read again next time
            _KEYS.clear()
            _KEYS[stamp] = key
    return key


_KEYS: dict[tuple[str, int, int, int], bytes] = {}


@lru_cache(maxsize=8)
def _key_path(home: str, cwd: str) -> Path:
    """Home's key file, resolved once per home setting (and working directory, for a relative home);
    resolving also makes the directory."""
    return get_settings().home_dir / "secret.key"


def _create_key(path: Path) -> bytes:
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another thread or process created it first: use theirs
        return _wait_for_key(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def _wait_for_key(path: Path) -> bytes:
    """The key file's content; a creator that won the race may still be writing its 44 bytes."""
    for _ in range(100):
        key = path.read_bytes().strip()
        if key:
            return key
        time.sleep(0.01)
    raise SecretError(f"the key file {path} is empty", hint="delete it only if nothing was encrypted with it yet")


def encrypt(data: dict[str, Any]) -> str:
    return Fernet(_key()).encrypt(json.dumps(data).encode()).decode()


def decrypt(token: str) -> dict[str, Any]:
    try:
        return dict(json.loads(Fernet(_key()).decrypt(token.encode())))
    except InvalidToken:
        raise SecretError(
            "cannot decrypt stored connection secrets",
            hint="set URBANBRAIN_SECRET_KEY (or restore home/secret.key) to the key used when the system was added",
        ) from None


def redact_url(url: str) -> str:
    """`postgresql://bob:pw@host/db` -> `postgresql://bob:***@host/db`; leaves other text alone."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return _redact_query(url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return _redact_query(urlunsplit(parts._replace(netloc=netloc)))


def _redact_query(text: str) -> str:
    return re.sub(
        r"(?i)\b(password|token|api_key|apikey|secret|access_token|key)=([^&\s]+)", r"\1=***", text
    )


def redact_text(text: str, secrets: list[str]) -> str:
    """Remove every known secret value from free text (driver error messages echo URLs)."""
    out = text
    for value in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        out = out.replace(value, "***")
    return re.sub(r"://([^:/@\s]+):([^@\s]+)@", r"://\1:***@", out)


def secret_values(options: dict[str, Any]) -> list[str]:
    """Every value in a connection config that must never be shown."""
    found: list[str] = []
    for key, value in options.items():
        if isinstance(value, dict):
            found.extend(secret_values(value))
        elif isinstance(value, str):
            if key.lower() in SECRET_KEYS:
                found.append(value)
            elif "://" in value:
                pw = urlsplit(value).password if "@" in value else None
                if pw:
                    found.append(pw)
    return found
