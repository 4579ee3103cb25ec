"""Materialised masked views: a dataset's masked form written once per snapshot and policy, then read.

Masking at query time costs a hash or a string rebuild per row on every query: bench/govern measured
the masked path at 1.58x raw DuckDB (a keyed-hash join 3.1x), against a target of 1.2x. Analysts ask
many questions of the same snapshot, so the masked view's result is worth keeping: the first query of
a principal's masked view of a snapshot writes it as one Parquet file (what the view would compute,
nothing more -- no raw value of a masked column is in it), and later queries read that file instead.

Since issue 11 the masked copy is also what seals a caller's query: the caller's SQL runs on a
connection that can read these files and nothing raw (see `urbanbrain.govern.query`), so every
restricted view is materialised. Datasets larger than `mask_cache_max_bytes` are written per query
to a private file (`scratch`) that is deleted when the query ends, instead of filling the cache.

Since issue 17 the masked view is written per data file (a "twin" of each file): a new snapshot
reuses the twins of the files it kept, so an append or a merge masks only its new files, and a query
whose filter prunes files (`urbanbrain.lake.prune`) masks only the files it can need (as groups of
their own: a one-day query masks and reads that day's file).

Since issue 17 point 3 several data files share one twin (`groups`: files in path order, cut where a
file's own path hash says or where the group would pass `GROUP_BYTES`), and the caller's view is a
`UNION ALL` of one single-file scan per twin (`union_sql`). DuckDB 1.5.5 gives its optimiser no
column statistics over a multi-file `read_parquet([...])`, so a join over hundreds of twins picked
its build side blind (3.8-5.8x raw DuckDB at 100 M rows); one scan per file keeps each file's
statistics and its pruning, and fewer, larger twins keep that union short.

The file's name is a digest of the masked view's SQL, which names the data file(s), every
column's expression (the mask key included) and the row filter: new data, a changed classification
or a new grant all give a new SQL, hence a new file; the old one ages out. Datasets larger than
`mask_cache_max_bytes` are not kept (materialising them would evict everything else), and the cache
as a whole is kept under `mask_cache_total_bytes`, least recently used first.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from pathlib import Path

import duckdb

from urbanbrain.core.duck import files_within
from urbanbrain.core.settings import get_settings

SUFFIX = ".parquet"
_LOCK = threading.Lock()
# A group's data files hold at most this many bytes (unless one file alone is larger): a twin stays
# well under `mask_cache_max_bytes` (256 MB by default), so it is kept, and at a billion rows (some
# hundreds of data files) the union of twins stays a few dozen scans long.
GROUP_BYTES = 128 * 1024 ** 2
# A group also ends after a file whose path hashes to 0 mod this: boundaries are set by the files
# themselves, not by their position, so an append or a merge regroups only around the files it
# added or removed and every other twin is reused. 16 small files per group on average ...
GROUP_CUT = 16
# ... and never more than this many (a run of unlucky hashes).
GROUP_FILES = 64


def cache_dir() -> Path:
    path = get_settings().home_dir / "cache" / "masked"
    path.mkdir(parents=True, exist_ok=True)
    return path


def groups(files: list[str], limit: int | None = None) -> list[list[str]]:
    """Data files masked together into one twin, each file in exactly one group; `[[]]` for none.

    Files in path order (a partitioned table's files sort by partition, so a twin covers a narrow
    range of the partition column and its statistics still prune), cut before a file that would take
    the group past `limit` bytes (default `GROUP_BYTES`, never above `mask_cache_max_bytes`), after a
    file whose path hashes to 0 mod `GROUP_CUT`, and after `GROUP_FILES` files. The same files always
    give the same groups, so a group's twin (named by the digest of its SQL, which lists its files)
    is found again by the next query and the next snapshot that keeps those files."""
    if not files:
        return [[]]
    if limit is None:
        cap = get_settings().mask_cache_max_bytes
        limit = min(GROUP_BYTES, cap) if cap > 0 else GROUP_BYTES
    out: list[list[str]] = []
    group: list[str] = []
    size = 0
    for f in sorted(set(files)):
        try:
            bytes_ = os.path.getsize(f)
        except OSError:
            bytes_ = 0
        if group and size + bytes_ > limit:
            out.append(group)
            group, size = [], 0
        group.append(f)
        size += bytes_
        cut = int(hashlib.sha256(f.encode()).hexdigest()[:8], 16) % GROUP_CUT == 0
        if cut or len(group) >= GROUP_FILES:
            out.append(group)
            group, size = [], 0
    if group:
        out.append(group)
    return out


def union_sql(paths: list[str]) -> str:
    """One view over several twins that keeps each file's statistics: a `UNION ALL` of single-file
    scans. (A multi-file `read_parquet([...])` gives DuckDB 1.5.5's optimiser no column statistics:
    the same file listed twice ran a join 3-7x slower per row.) The twins of one view share one
    schema (the same masked projection), so the union lines up by position."""
    return " UNION ALL ".join(f"SELECT * FROM read_parquet({_literal(p)})" for p in paths)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def worth_materialising(files: list[str]) -> bool:
    """Small enough that writing the masked copy costs the first query about one more scan."""
    limit = get_settings().mask_cache_max_bytes
    return limit > 0 and bool(files) and files_within(files, limit)


def lookup(masked_sql: str) -> str | None:
    """Path of the file already holding `masked_sql`'s result (touched: recently used), or None."""
    path = cache_dir() / f"{_digest(masked_sql)}{SUFFIX}"
    try:
        os.utime(path)
    except FileNotFoundError:
        return None
    return str(path)


def _digest(masked_sql: str) -> str:
    return hashlib.sha256(masked_sql.encode()).hexdigest()[:40]


def materialised(con: duckdb.DuckDBPyConnection, masked_sql: str, *, evict: bool = True) -> str:
    """Path of a Parquet file holding `masked_sql`'s result, written now unless it already exists.

    Must run before `con` is locked down (it writes a file). Concurrent writers of the same view each
    write a private temp file and rename it into place: the last rename wins, both contents are equal.
    """
    digest = _digest(masked_sql)
    path = cache_dir() / f"{digest}{SUFFIX}"
    if path.exists():
        try:
            os.utime(path)  # least recently used is what eviction removes
            return str(path)
        except FileNotFoundError:  # evicted between the check and the touch
            pass
    tmp = path.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")
    try:
        con.execute(f"COPY ({masked_sql}) TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if evict:
        _evict(keep={path})
    return str(path)


def scratch(con: duckdb.DuckDBPyConnection, masked_sql: str) -> str:
    """A private Parquet file holding `masked_sql`'s result for one query; the caller deletes it."""
    folder = get_settings().home_dir / "tmp" / "masked"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{SUFFIX}"
    con.execute(f"COPY ({masked_sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
    return str(path)


def evict(keep: set[str]) -> None:
    """Bring the cache under its budget, sparing `keep` (the files a query is about to read)."""
    _evict({Path(p) for p in keep})


def _evict(keep: set[Path]) -> None:
    limit = get_settings().mask_cache_total_bytes
    with _LOCK:
        entries = []
        for p in cache_dir().glob(f"*{SUFFIX}"):
            try:
                st = p.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if total <= limit:
                break
            if p in keep:
                continue
            p.unlink(missing_ok=True)
            total -= size


def clear() -> int:
    """Remove every materialised view (they are rebuilt on demand); returns how many were removed."""
    removed = 0
    for p in cache_dir().glob(f"*{SUFFIX}"):
        p.unlink(missing_ok=True)
        removed += 1
    return removed
