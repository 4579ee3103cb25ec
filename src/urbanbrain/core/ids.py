"""Identifiers: sortable run ids, so a listing by id is a listing by time."""

from __future__ import annotations

import os
import time


def new_id(prefix: str = "") -> str:
    """A 26-char time-ordered id (ms timestamp + randomness), optionally prefixed, e.g. `run_01J...`."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    ms = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | rand
    chars = []
    for _ in range(26):
        chars.append(alphabet[value & 31])
        value >>= 5
    text = "".join(reversed(chars))
    return f"{prefix}_{text}" if prefix else text
