"""Identifiers: sortable run ids, so a listing by id is a listing by time."""

from __future__ import annotations

import base64
import os
import time

# base32's alphabet to this id's (Crockford-like: lower case, no i, l, o, u)
_ALPHABET = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789abcdefghjkmnpqrstvwxyz")


def new_id(prefix: str = "") -> str:
    """A 26-char time-ordered id (ms timestamp + randomness), optionally prefixed, e.g. `run_01J...`.

    The 130 bits of the 26 characters, most significant first, are the top of a 160-bit string that
    base32 encodes in C (a character at a time in Python cost ~10 us, twice per Open311 report)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    text = base64.b32encode((value << 30).to_bytes(20, "big"))[:26].translate(_ALPHABET).decode()
    return f"{prefix}_{text}" if prefix else text
