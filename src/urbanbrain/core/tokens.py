"""Bearer secrets (consumers' API keys, users' personal tokens): made here, stored only as a hash.

A token is 256 random bits behind a short readable prefix (`ubk_`, `ubt_`) that says what it is. It is
shown once; the store keeps its SHA-256 and the first few characters so people can tell tokens apart.
A slow password hash would add nothing: the secret is not human-chosen, so a fast hash cannot be
brute-forced, and the gateway hashes on every call.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX_CHARS = 12  # "ubk_" + 8 characters: enough to tell tokens apart, useless to an attacker


def new_token(prefix: str) -> str:
    """A fresh secret such as `ubt_Q2x...` (43 random URL-safe characters after the prefix)."""
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the store keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    return token[:PREFIX_CHARS]
