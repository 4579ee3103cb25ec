"""audit chain keyed: re-hash an existing unkeyed (SHA-256) chain under the audit key (HMAC-SHA256)

The old chain is verified first, entry by entry, with its unkeyed hashes; only if all of it fits (and
the head agrees) is every entry re-hashed under the key, in order, and the head moved to the new hash.
A log that does not verify is left untouched, so `urbanbrain audit verify` keeps reporting where it was
broken rather than the migration laundering it. Downgrade re-hashes without the key the same way.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-03 20:10:00
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def _rechain(old: Callable[..., str], new: Callable[..., str]) -> None:
    from urbanbrain.meta.models import AuditEntry, AuditHead

    conn = op.get_bind()
    rows = list(conn.execute(sa.select(AuditEntry.seq, AuditEntry.at, AuditEntry.principal, AuditEntry.action,
                                       AuditEntry.target, AuditEntry.detail, AuditEntry.prev_hash, AuditEntry.hash)
                             .order_by(AuditEntry.seq)))
    head = conn.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    if not rows or head is None:
        return
    prev = GENESIS
    for expected, r in enumerate(rows, start=1):
        if r.seq != expected or r.prev_hash != prev or \
                old(r.seq, r.at, r.principal, r.action, r.target, r.detail, r.prev_hash) != r.hash:
            return  # broken before the migration: leave it for `audit verify` to report
        prev = r.hash
    if head.seq != rows[-1].seq or head.hash != prev:
        return
    prev = GENESIS
    for r in rows:
        digest = new(r.seq, r.at, r.principal, r.action, r.target, r.detail, prev)
        conn.execute(sa.update(AuditEntry).where(AuditEntry.seq == r.seq).values(prev_hash=prev, hash=digest))
        prev = digest
    conn.execute(sa.update(AuditHead).where(AuditHead.id == 1).values(hash=prev))


def upgrade() -> None:
    from urbanbrain.govern.audit import audit_key, entry_hash, legacy_hash

    key = audit_key()
    _rechain(legacy_hash, lambda *fields: entry_hash(*fields, key=key))


def downgrade() -> None:
    from urbanbrain.govern.audit import audit_key, entry_hash, legacy_hash

    key = audit_key()
    _rechain(lambda *fields: entry_hash(*fields, key=key), legacy_hash)
