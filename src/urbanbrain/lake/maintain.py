"""Keeping a lake table small and fast: compaction, snapshot expiry and orphan-file removal.

Every sync and every stream micro-batch adds files and a snapshot, and nothing is ever deleted: a
table synced 39 times held 299 MB on disk for 14 MB of live data. `plan` looks at one table and says
what `run` would do; `run` does it:

1. **Compaction.** Within each partition, data files smaller than half the target size are read and
   written again as target-sized files (sorted by the table's sort column); files written under an
   older partition spec are rewritten into the current one. All rewrites are ONE Iceberg overwrite
   commit, so a reader sees the table before or after, never half compacted; a writer that committed
   first makes the commit fail and the table is left for the next run.
2. **Snapshot expiry.** Snapshots older than `lake_snapshot_retention_hours` are removed from the
   metadata, except the newest `lake_snapshot_keep` (the current one always stays). Data and manifest
   files only the expired snapshots referenced are then deleted.
3. **Orphan files.** Files in the table's folder that no snapshot and no metadata version references
   (a write killed before its commit) are deleted once older than `lake_orphan_grace_hours`, so a
   write still running never loses its files.

Only files inside the table's own folder are ever deleted: Parquet registered in place
(`--register-in-place`) belongs to its owner and is never compacted nor removed.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import FileScanTask, Table

from urbanbrain.core.settings import get_settings
from urbanbrain.lake.catalog import Identifier, get_catalog
from urbanbrain.lake.partitioning import describe, target_file_bytes

SMALL_RATIO = 0.5  # a file under half the target size is worth compacting


@dataclass
class Plan:
    """What `run` would do to one table, and the table's current shape (`lake stats`)."""

    dataset: str
    files: int = 0
    bytes: int = 0
    rows: int = 0
    snapshots: int = 0
    partitions: int = 0
    spec: list[str] = field(default_factory=list)
    disk_files: int = 0           # everything in the table's folder (data, manifests, metadata)
    disk_bytes: int = 0
    target_bytes: int = 0
    compact_files: int = 0        # small or old-spec files to rewrite
    compact_bytes: int = 0
    expire_snapshots: list[int] = field(default_factory=list)
    expired_files: int = 0        # files only expired snapshots reference, deleted with them
    expired_bytes: int = 0
    orphan_files: int = 0
    orphan_bytes: int = 0
    in_place_files: int = 0       # registered in place: never compacted nor deleted

    @property
    def idle(self) -> bool:
        return not (self.compact_files or self.expire_snapshots or self.orphan_files)


@dataclass
class Result:
    plan: Plan
    compacted_files: int = 0
    written_files: int = 0
    expired: int = 0
    deleted_files: int = 0
    deleted_bytes: int = 0
    skipped: str = ""  # why a step did not run (a concurrent writer)
    seconds: float = 0.0


def _local(path: str) -> str:
    return path.removeprefix("file://")


def _inside(path: str, root: str) -> bool:
    return os.path.abspath(_local(path)).startswith(os.path.abspath(root) + os.sep)


def _snapshot_files(table: Table, snapshot_id: int, cache: dict[str, list[tuple[str, int]]]) -> set[str]:
    """Every file a snapshot needs: its manifest list, its manifests and their live data files."""
    snap = table.metadata.snapshot_by_id(snapshot_id)
    if snap is None:
        return set()
    files = {_local(snap.manifest_list)}
    for manifest in snap.manifests(table.io):
        files.add(_local(manifest.manifest_path))
        entries = cache.get(manifest.manifest_path)
        if entries is None:
            entries = [(_local(e.data_file.file_path), e.data_file.file_size_in_bytes)
                       for e in manifest.fetch_manifest_entry(table.io, discard_deleted=True)]
            cache[manifest.manifest_path] = entries
        files.update(path for path, _ in entries)
    return files


def _expirable(table: Table, now_ms: int) -> list[int]:
    settings = get_settings()
    current = table.current_snapshot()
    cutoff = now_ms - int(settings.lake_snapshot_retention_hours * 3600 * 1000)
    newest_first = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
    protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
    return [s.snapshot_id for s in newest_first[settings.lake_snapshot_keep:]
            if s.timestamp_ms < cutoff and s.snapshot_id not in protected
            and (current is None or s.snapshot_id != current.snapshot_id)]


def _compaction_groups(table: Table, tasks: list[FileScanTask], target: int) -> list[list[FileScanTask]]:
    """Files to rewrite together: per partition, the small ones (two or more); every old-spec file."""
    root = table.location()
    spec_id = table.metadata.default_spec_id
    groups: dict[Any, list[FileScanTask]] = defaultdict(list)
    old_spec: list[FileScanTask] = []
    for task in tasks:
        f = task.file
        if not _inside(f.file_path, _local(root)):
            continue  # registered in place
        if f.spec_id != spec_id:
            old_spec.append(task)
        elif f.file_size_in_bytes < target * SMALL_RATIO:
            groups[tuple(f.partition[i] for i in range(len(f.partition)))].append(task)
    chosen = [g for g in groups.values() if len(g) > 1]
    if old_spec:
        chosen.append(old_spec)
    return chosen


def plan(identifier: Identifier, table: Table | None = None) -> Plan:
    """Look at one table: its files, snapshots and partitions, and what maintenance would do."""
    settings = get_settings()
    table = table or get_catalog().load_table(identifier)
    root = _local(table.location())
    out = Plan(".".join(identifier), spec=describe(table), snapshots=len(table.metadata.snapshots))
    out.target_bytes = target_file_bytes(table, settings.lake_target_file_bytes)
    tasks = list(table.scan().plan_files()) if table.current_snapshot() else []
    out.files = len(tasks)
    out.bytes = sum(t.file.file_size_in_bytes for t in tasks)
    out.rows = sum(t.file.record_count for t in tasks)
    out.partitions = len({(t.file.spec_id, tuple(t.file.partition[i] for i in range(len(t.file.partition))))
                          for t in tasks})
    out.in_place_files = sum(1 for t in tasks if not _inside(t.file.file_path, root))
    for group in _compaction_groups(table, tasks, out.target_bytes):
        out.compact_files += len(group)
        out.compact_bytes += sum(t.file.file_size_in_bytes for t in group)
    now_ms = int(time.time() * 1000)
    out.expire_snapshots = _expirable(table, now_ms)
    cache: dict[str, list[tuple[str, int]]] = {}
    kept: set[str] = set()
    for snap in table.metadata.snapshots:
        if snap.snapshot_id not in out.expire_snapshots:
            kept |= _snapshot_files(table, snap.snapshot_id, cache)
    gone: set[str] = set()
    for sid in out.expire_snapshots:
        gone |= _snapshot_files(table, sid, cache)
    expired = {p for p in gone - kept if _inside(p, root)}
    out.expired_files = len(expired)
    out.expired_bytes = sum(_size(p) for p in expired)
    referenced = kept | gone | _metadata_files(table)
    grace = time.time() - settings.lake_orphan_grace_hours * 3600
    for path, size, mtime in _walk(root):
        out.disk_files += 1
        out.disk_bytes += size
        if path not in referenced and mtime < grace:
            out.orphan_files += 1
            out.orphan_bytes += size
    return out


def _metadata_files(table: Table) -> set[str]:
    files = {_local(str(table.metadata_location))}
    files.update(_local(entry.metadata_file) for entry in table.metadata.metadata_log)
    return files


def _walk(root: str) -> list[tuple[str, int, float]]:
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            found.append((os.path.abspath(path), st.st_size, st.st_mtime))
    return found


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def compact(table: Table, target: int) -> tuple[int, int]:
    """Rewrite the compaction groups in one overwrite commit; returns (files replaced, files written)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    from urbanbrain.lake.datafiles import DataFileWriter
    from urbanbrain.lake.merge import _plain_types
    from urbanbrain.lake.partitioning import SORT_PROPERTY

    tasks = list(table.scan().plan_files()) if table.current_snapshot() else []
    groups = _compaction_groups(table, tasks, target)
    if not groups:
        return 0, 0
    sort_by = table.properties.get(SORT_PROPERTY)
    schema = table.schema()
    writer = DataFileWriter(table, target_bytes=target, sort_by=sort_by, lanes=1)  # one file per partition:
    # parallel lanes would leave files under half the target that the next run would compact again
    removed = []
    for group in groups:
        if sort_by:  # files of a sorted table are read in order, so the new files stay sorted
            group = sorted(group, key=lambda t: _lower(t, schema, sort_by))
        for task in group:
            rows = ArrowScan(table.metadata, table.io, schema, AlwaysTrue()).to_table(tasks=[task])
            writer.write(_plain_types(rows))
            removed.append(task.file)
    written = writer.close()
    with table.transaction() as tx, \
            tx.update_snapshot(snapshot_properties={"urbanbrain.maintain": "compact"}).overwrite() as overwrite:
        for old in removed:
            overwrite.delete_data_file(old)
        for new in written:
            overwrite.append_data_file(new)
    return len(removed), len(written)


def _lower(task: FileScanTask, schema: Any, column: str) -> bytes:
    field_id = schema.find_field(column).field_id
    return bytes(task.file.lower_bounds.get(field_id, b"")) if task.file.lower_bounds else b""


def run(identifier: Identifier, *, dry_run: bool = False) -> Result:
    """Compact, expire and remove orphans on one table (see the module docstring)."""
    started = time.monotonic()
    catalog = get_catalog()
    table = catalog.load_table(identifier)
    before = plan(identifier, table)
    result = Result(before)
    if dry_run or before.idle:
        result.seconds = time.monotonic() - started
        return result
    root = _local(table.location())
    try:
        if before.compact_files:
            result.compacted_files, result.written_files = compact(table, before.target_bytes)
            table = catalog.load_table(identifier)
    except CommitFailedException:
        result.skipped = "another writer committed first; compaction is left for the next run"
        table = catalog.load_table(identifier)
    expire = _expirable(table, int(time.time() * 1000))
    cache: dict[str, list[tuple[str, int]]] = {}
    gone: set[str] = set()
    for sid in expire:
        gone |= _snapshot_files(table, sid, cache)
    if expire:
        try:
            table.maintenance.expire_snapshots().by_ids(expire).commit()
            result.expired = len(expire)
        except CommitFailedException:
            result.skipped = result.skipped or "another writer committed first; expiry is left for the next run"
            gone = set()
        table = catalog.load_table(identifier)
    kept: set[str] = set()
    for snap in table.metadata.snapshots:
        kept |= _snapshot_files(table, snap.snapshot_id, cache)
    referenced = kept | _metadata_files(table)
    grace = time.time() - get_settings().lake_orphan_grace_hours * 3600
    doomed = {p for p in gone - referenced if _inside(p, root)}
    doomed |= {path for path, _, mtime in _walk(root) if path not in referenced and path not in gone
               and mtime < grace}
    for path in sorted(doomed):
        size = _size(path)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        result.deleted_files += 1
        result.deleted_bytes += size
    result.seconds = time.monotonic() - started
    return result
