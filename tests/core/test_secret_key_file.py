"""The installation key is read from its file once per stamp, and again whenever the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from urbanbrain.core import secrets
from urbanbrain.govern import audit


def test_key_file_is_created_then_reused(ub_home: Path) -> None:
    first = secrets._key()
    assert (ub_home / "secret.key").read_bytes().strip() == first
    assert secrets._key() == first
    assert secrets.decrypt(secrets.encrypt({"a": 1})) == {"a": 1}


def test_a_replaced_key_file_is_read_again(ub_home: Path) -> None:
    """A key restored from a backup (another content, another mtime) is the key from then on: nothing
    signs or encrypts under the old one it replaced."""
    old = secrets._key()
    old_audit = audit.audit_key()
    path = ub_home / "secret.key"
    new = Fernet.generate_key()
    path.write_bytes(new)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # the same second on a coarse clock
    assert secrets._key() == new != old
    assert audit.audit_key() != old_audit


def test_secret_key_setting_wins(ub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from urbanbrain.core.settings import get_settings

    secrets._key()  # a key file exists
    chosen = Fernet.generate_key()
    monkeypatch.setenv("URBANBRAIN_SECRET_KEY", chosen.decode())
    get_settings.cache_clear()
    assert secrets._key() == chosen
