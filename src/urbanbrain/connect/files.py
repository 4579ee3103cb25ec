"""The files connector: CSV, Excel (xlsx), JSON, NDJSON and Parquet exports dropped in a folder.

Many department systems cannot be queried directly; they publish exports instead. This connector
reads them as a `Source`:

>>> src = FileSource({"path": "/data/exports/*.csv", "encoding": "auto"})   # doctest: +SKIP
>>> [o.name for o in src.discover()]                                         # doctest: +SKIP
['households_2024', 'permits']

Options:

* `path` (required): a file, a directory (its files with a known extension, not recursive) or a
  glob (`/data/exports/*.csv`, `**` allowed).
* `format`: `auto` (default, by extension: `.csv/.tsv` csv, `.xlsx/.xlsm` xlsx, `.json` json,
  `.ndjson/.jsonl` ndjson, `.parquet/.pq` parquet) or one of `csv|xlsx|json|ndjson|parquet`, which
  then applies to every matched file. Legacy `.xls` is refused with a clear error.
* `encoding`: `auto` (default: BOM → utf-8-sig, strict UTF-8 on the first MB → utf-8, else gb18030)
  or any Python codec name (`gbk`, `utf-8`, ...). Used for CSV, JSON and NDJSON.
* `delimiter`: CSV field separator; default sniffed among `,` `;` tab `|`.
* `sheet`: xlsx sheet name or list of names; default every sheet, each a separate object.
* `records_path`: JSON only, dotted path to the list of records (`data.items`); default the
  document itself if it is a list, else its first list-valued key (an object with no list is one
  record). Documents over 512 MB are refused: use NDJSON, which is streamed.
* `register_in_place` (`system add --register-in-place`): Parquet files are registered into the
  lake where they are (Iceberg `add_files`), not copied, when their schema allows
  (`urbanbrain.sync.inplace`).
* `object`: one object of this name made of every matched file (daily exports
  `trips_2026-01-*.csv` as one `trips` table). The files must have the same columns (any order);
  same-named columns get one type across them, as across a system's files. A large group is synced
  in parts of whole files at once (`sync/split.py`, `sync_split_rows`; `file_parts` below).

Objects: one per file, named `sql_identifier(stem)`; an xlsx sheet is `stem_sheet`. A name that
loses non-ASCII characters (Chinese file names) gets an 8-hex-digit hash of the original so it
stays unique and stable; remaining clashes get `_2`, `_3` in sorted path order.

Reading: files have no server-side filter, so a cursor is applied per batch after conversion, and
rows come in file order (not cursor order) — take the maximum of the cursor column over all
batches. Every data row ends up either in a batch or in `Batch.rejects`. An empty file is an object
with no columns and no rows; a header-only CSV has string columns and no rows.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.connect import coerce, encoding
from urbanbrain.connect import file_formats as ff
from urbanbrain.connect.base import Batch, ColumnInfo, Cursor, ReadRequest, Reject, SourceObject
from urbanbrain.core.errors import (
    ConfigurationError,
    ObjectNotFoundError,
    SourceError,
    SourceFormatError,
    ValidationError,
)
from urbanbrain.core.naming import sql_identifier

FORMATS = ("csv", "xlsx", "json", "ndjson", "parquet")
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class FileObject:
    """One object: a file (or an xlsx sheet) and the format it is read as."""

    name: str
    path: Path
    format: str
    sheet: str | None = None


def object_name(text: str) -> str:
    """`sql_identifier`, plus a stable hash when characters were lost (Chinese names)."""
    name = sql_identifier(text)
    if text.isascii() and name:
        return name
    digest = f"{zlib.crc32(text.encode('utf-8')):08x}"
    return f"{name}_{digest}" if name else f"f_{digest}"


class FileSource:
    """A `Source` over local files; see the module docstring for the options."""

    kind: ClassVar[str] = "files"
    splittable: ClassVar[bool] = True  # a group of files splits into groups of whole files (`file_parts`)

    def __init__(self, options: dict[str, Any]) -> None:
        path = options.get("path")
        if not path:
            raise ConfigurationError("the files connector needs a 'path' option", hint="a file, folder or glob")
        self.path = str(path)
        self.format = str(options.get("format") or "auto").lower()
        if self.format not in (*FORMATS, "auto"):
            raise ConfigurationError(
                f"unknown file format {self.format!r}", hint=f"use one of auto, {', '.join(FORMATS)}"
            )
        self.encoding = encoding.normalise(str(options.get("encoding") or "auto"))
        self.delimiter: str | None = options.get("delimiter")
        sheet = options.get("sheet")
        self.sheets: list[str] | None = [sheet] if isinstance(sheet, str) else sheet
        self.records_path: str | None = options.get("records_path")
        self.null_values: Any = options.get("null_values")
        if self.null_values is not None and not isinstance(self.null_values, list | dict | str):
            raise ConfigurationError("the 'null_values' option must be a list of tokens or a mapping "
                                     "of object name to list ('*' for the others)",
                                     hint='e.g. null_values=["NA", "-"] or {"*": ["NA"], "stations": ["-999"]}')
        self.register_in_place = bool(options.get("register_in_place"))
        group = options.get("object")
        self.group: str | None = object_name(str(group)) if group else None
        self._plans: dict[tuple[str, str | None, int, int, str], ff.Plan] = {}
        self._unified: dict[tuple[Any, ...], dict[str, ff.Plan]] = {}

    # --- finding files -------------------------------------------------------------------------

    def _files(self) -> list[tuple[Path, str]]:
        raw = os.path.expanduser(self.path)
        if glob.has_magic(raw):
            mode, found = "glob", [Path(p) for p in sorted(glob.glob(raw, recursive=True))]
        elif Path(raw).is_dir():
            mode, found = "dir", sorted(Path(raw).iterdir())
        elif Path(raw).exists():
            mode, found = "file", [Path(raw)]
        else:
            raise ObjectNotFoundError(f"no file matches {self.path!r}", hint="check the 'path' option", path=raw)
        files: list[tuple[Path, str]] = []
        for p in found:
            if not p.is_file():
                continue
            suffix = p.suffix.lower()
            if suffix == ".xls":
                raise SourceFormatError(
                    f"{p} is a legacy .xls workbook, which is not supported",
                    hint="save it as .xlsx or CSV (UTF-8) in Excel or LibreOffice",
                    file=str(p),
                )
            fmt = EXTENSIONS.get(suffix)
            if self.format != "auto" and (mode != "dir" or fmt == self.format):
                files.append((p, self.format))
            elif self.format == "auto" and fmt is not None:
                files.append((p, fmt))
            elif self.format == "auto" and mode == "file":
                raise SourceFormatError(
                    f"cannot tell the format of {p} from its extension",
                    hint=f"set the 'format' option to one of {', '.join(FORMATS)}",
                    file=str(p),
                )
        if not files:
            raise ObjectNotFoundError(
                f"no readable data file matches {self.path!r}", hint=_unknown_extension_hint(raw, found), path=raw
            )
        return files

    def _objects(self) -> list[FileObject]:
        objects: list[FileObject] = []
        for path, fmt in self._files():
            if fmt != "xlsx":
                objects.append(FileObject(object_name(path.stem), path, fmt))
                continue
            sheets = _guard(path, ff.sheet_names, path)
            for sheet in self.sheets or sheets:
                if sheet not in sheets:
                    raise ObjectNotFoundError(f"{path} has no sheet {sheet!r} (it has {sheets})", file=str(path))
                objects.append(FileObject(object_name(f"{path.stem}_{sheet}"), path, fmt, sheet))
        seen: dict[str, int] = {}
        unique = []
        for obj in objects:
            n = seen.get(obj.name, 0) + 1
            seen[obj.name] = n
            unique.append(obj if n == 1 else FileObject(f"{obj.name}_{n}", obj.path, obj.format, obj.sheet))
        return unique

    def _groups(self, objects: list[FileObject]) -> dict[str, list[FileObject]]:
        """Object name -> its files: each file its own object, or all of them one (`object` option)."""
        if self.group:
            return {self.group: objects}
        return {o.name: [o] for o in objects}

    def _group_plan(self, name: str, members: list[FileObject], plans: dict[str, ff.Plan]) -> ff.Plan:
        """The plan of an object made of `members`: the first file's columns and types, which every
        other file must have too (any order; an empty file has none and adds nothing); the row estimate
        is the sum."""
        if len(members) == 1:
            return plans[members[0].name]
        filled = [o for o in members if plans[o.name].specs] or members[:1]
        first = plans[filled[0].name]
        want = {s.name: s.type for s in first.specs}
        for obj in filled[1:]:
            have = {s.name: s.type for s in plans[obj.name].specs}
            if have != want:
                differ = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
                raise SourceFormatError(
                    f"{obj.path} does not have the columns of {filled[0].path}, so the two cannot be one "
                    f"object {name!r} (columns differing: {', '.join(differ[:8])})",
                    hint="give each kind of file its own system, or fix the exports to share one header",
                    file=str(obj.path))
        estimates = [plans[o.name].row_estimate for o in members]
        total = None if any(e is None for e in estimates) else sum(e or 0 for e in estimates)
        return dataclasses.replace(first, row_estimate=total)

    def _file_plan(self, obj: FileObject) -> tuple[tuple[str, str | None, int, int, str], ff.Plan]:
        st = _guard(obj.path, obj.path.stat)
        key = (str(obj.path), obj.sheet, st.st_mtime_ns, st.st_size, obj.name)
        if key not in self._plans:
            self._plans[key] = _guard(obj.path, self._make_plan, obj)
        return key, self._plans[key]

    def _plan(self, obj: FileObject) -> ff.Plan:
        return self._all_plans(self._objects())[obj.name]

    def _all_plans(self, objects: list[FileObject]) -> dict[str, ff.Plan]:
        """Every object's plan, with same-named columns of the system's files given one type."""
        pairs = [self._file_plan(o) for o in objects]
        key = tuple(k for k, _ in pairs)
        if key not in self._unified:
            self._unified = {key: unify_plans({o.name: p for o, (_, p) in zip(objects, pairs, strict=True)})}
        return self._unified[key]

    def _make_plan(self, obj: FileObject) -> ff.Plan:
        tokens = coerce.null_tokens(self.null_values, obj.name)
        if obj.format == "csv":
            return ff.plan_csv(obj.path, self.encoding, self.delimiter, tokens)
        if obj.format == "xlsx":
            assert obj.sheet is not None
            return ff.plan_xlsx(obj.path, obj.sheet, tokens)
        if obj.format == "json":
            return ff.plan_json(obj.path, self.encoding, self.records_path, tokens)
        if obj.format == "ndjson":
            return ff.plan_ndjson(obj.path, self.encoding, tokens)
        return ff.plan_parquet(obj.path)

    def in_place_file(self, name: str) -> Path | None:
        """The Parquet file of object `name` when the system registers its files in place (sync then
        adds the file to the lake table instead of copying it; see `urbanbrain.sync.inplace`)."""
        if not self.register_in_place:
            return None
        members = self._groups(self._objects()).get(name, [])
        obj = members[0] if len(members) == 1 else None  # a group is copied (its files may differ)
        return obj.path.resolve() if obj is not None and obj.format == "parquet" else None

    def file_parts(self, request: ReadRequest, rows: int, max_parts: int) -> list[ReadRequest] | None:
        """The requests of a split sync's parts for a group of files: consecutive files in groups of
        about `rows` rows each (by the files' row estimates; a file is never cut, and goes to the group
        where its first row falls), at most `max_parts`; None when that is one group.

        Each request names its files (`ReadRequest.files`) and carries their read plans, made here over
        the whole group (`part_plan`): the types are inferred once from every file, so a part reads its
        files with exactly the one-piece sync's types and does not analyse the other files again."""
        objects = self._objects()
        members = self._groups(objects).get(request.object, [])
        if len(members) < 2:
            return None
        plans = self._all_plans(objects)
        order = tuple(s.name for s in self._group_plan(request.object, members, plans).specs)
        sizes = [max(plans[o.name].row_estimate or 0, 1) for o in members]
        total = sum(sizes)
        parts = min(max_parts, -(-total // max(rows, 1)))
        groups: list[list[FileObject]] = [[] for _ in range(parts)]
        before = 0
        for obj, size in zip(members, sizes, strict=True):
            groups[min(parts - 1, before * parts // total)].append(obj)
            before += size
        chosen = [g for g in groups if g]
        if len(chosen) < 2:
            return None
        return [dataclasses.replace(request, files=tuple(_member_key(o) for o in g),
                                    part_plan=FilePart(order, tuple((o, _lean(plans[o.name])) for o in g)))
                for g in chosen]

    # --- the Source protocol -------------------------------------------------------------------

    def test(self) -> None:
        """Every matched file exists and can be opened for reading."""
        for path, _ in self._files():
            _guard(path, lambda p: p.open("rb").close(), path)

    def discover(self) -> list[SourceObject]:
        out = []
        objects = self._objects()
        plans = self._all_plans(objects)
        for name, members in self._groups(objects).items():
            obj = members[0]
            plan = self._group_plan(name, members, plans)
            columns = [
                ColumnInfo(s.name, s.type, True, source_type=_source_type(obj.format, key, s))
                for s, key in zip(plan.specs, plan.keys, strict=True)
            ]
            out.append(
                SourceObject(
                    name=name,
                    kind="file",
                    columns=columns,
                    row_estimate=plan.row_estimate,
                    cursor_candidates=list(plan.cursor_candidates),
                )
            )
        return out

    def read(self, request: ReadRequest) -> Iterator[Batch]:
        """Batches of at most `batch_rows` typed rows; bad rows come back as rejects, never dropped."""
        if isinstance(request.part_plan, FilePart):  # a part of a split sync, planned by `file_parts`
            order, pairs = list(request.part_plan.order), list(request.part_plan.members)
        else:
            objects = self._objects()
            groups = self._groups(objects)
            members = groups.get(request.object)
            if members is None:
                raise ObjectNotFoundError(
                    f"no file object named {request.object!r}", hint=f"known objects: {sorted(groups)}"
                )
            plans = self._all_plans(objects)
            order = [s.name for s in self._group_plan(request.object, members, plans).specs]
            pairs = [(o, plans[o.name]) for o in members]
        if request.files is not None:  # one part of a split sync: only its files
            wanted = set(request.files)
            pairs = [(o, p) for o, p in pairs if _member_key(o) in wanted]
        batch_rows = max(1, request.batch_rows)
        for obj, plan in pairs:
            if not plan.specs and len(order):  # an empty file in a group: nothing to read
                continue
            cursor = _cursor_filter(plan, request.cursor)
            reorder = [s.name for s in plan.specs] != order
            for raw, rejects in _guard(obj.path, self._raw, obj, plan, batch_rows):
                if raw is None:
                    yield Batch(None, rejects)
                    continue
                batch = _finish(raw, plan, cursor, rejects, request.inclusive)
                if reorder and batch.data is not None:
                    batch = Batch(batch.data.select(order), batch.rejects)
                if batch.data is not None or batch.rejects:
                    yield batch

    def _raw(self, obj: FileObject, plan: ff.Plan, batch_rows: int) -> ff.RawBatches:
        if obj.format == "csv":
            return ff.iter_csv(obj.path, plan, batch_rows)
        if obj.format == "xlsx":
            assert obj.sheet is not None
            return ff.iter_xlsx(obj.path, obj.sheet, plan, batch_rows)
        if obj.format == "json":
            return ff.iter_json(obj.path, self.encoding, self.records_path, plan, batch_rows)
        if obj.format == "ndjson":
            return ff.iter_ndjson(obj.path, plan, batch_rows)
        return ff.iter_parquet(obj.path, plan, batch_rows)

    def close(self) -> None:
        """Forget cached plans; no file handle outlives a `read` generator."""
        self._plans.clear()
        self._unified.clear()


@dataclass(frozen=True)
class FilePart:
    """A split sync's part of a group of files (`ReadRequest.part_plan`): the group's column order and
    each of the part's files with its read plan (types inferred over the whole group)."""

    order: tuple[str, ...]
    members: tuple[tuple[FileObject, ff.Plan], ...]


def _lean(plan: ff.Plan) -> ff.Plan:
    """A plan without what only unification needs (the per-value statistics), to travel to a part."""
    return dataclasses.replace(plan, inference=None)


def _member_key(obj: FileObject) -> str:
    """How a part names one file of a group (`ReadRequest.files`): its path, and sheet if any."""
    return f"{obj.path}#{obj.sheet}" if obj.sheet is not None else str(obj.path)


def _unknown_extension_hint(raw: str, found: list[Path]) -> str:
    """Name the glob and format that would read what is there (GTFS ships CSV as `.txt`)."""
    suffixes = Counter(p.suffix.lower() for p in found if p.is_file() and p.suffix)
    known = f"known extensions: {', '.join(EXTENSIONS)}"
    if not suffixes:
        return known
    suffix, count = suffixes.most_common(1)[0]
    folder = raw if Path(raw).is_dir() else os.path.dirname(raw) or "."
    pattern = os.path.join(folder, f"*{suffix}")
    guess = "csv" if suffix in (".txt", ".dat", ".tab") else "csv|json|ndjson|parquet"
    return (f"{count} file(s) here end in {suffix!r}; if they are {guess} data, set path={pattern!r} "
            f"and format={guess!r} (e.g. `--path '{pattern}' --option format={guess.split('|')[0]}`); {known}")


def _source_type(fmt: str, key: str, spec: coerce.ColumnSpec) -> str:
    """`csv:<header cell>`, plus the date/time format the values were recognised in."""
    layout = coerce.layout_format(spec)
    return f"{fmt}:{key} [{layout}]" if layout else f"{fmt}:{key}"


def _join_key(name: str, names: set[str]) -> str:
    """The group a column's type is shared with: its own name, or for `from_stop_id` the longest
    other `*_id` column it ends with (`stop_id`), so keys and their references can be joined."""
    if not name.endswith("_id"):
        return name
    matches = [n for n in names if n != name and n.endswith("_id") and name.endswith("_" + n)]
    return max(matches, key=len) if matches else name


def unify_plans(plans: dict[str, ff.Plan]) -> dict[str, ff.Plan]:
    """One type per column name across the system's text files (same-header files get one schema;
    `stop_id` and `transfers.from_stop_id` agree): the narrowest type every file's values allow,
    text as soon as any value anywhere is not a number. Typed (Parquet) files are left alone."""
    import copy

    inferred = {n: p for n, p in plans.items() if p.inference is not None}
    names = {s.name for p in inferred.values() for s in p.specs}
    groups: dict[str, list[tuple[coerce.Inference, int]]] = {}
    for plan in inferred.values():
        assert plan.inference is not None
        for i, spec in enumerate(plan.specs):
            groups.setdefault(_join_key(spec.name, names), []).append((plan.inference, i))
    if all(len(members) == 1 for members in groups.values()):
        return plans
    out = dict(plans)
    for name, plan in inferred.items():
        assert plan.inference is not None
        combined = copy.deepcopy(plan.inference)
        for i, spec in enumerate(plan.specs):
            for other, j in groups[_join_key(spec.name, names)]:
                if other is not plan.inference:
                    combined.merge(i, other, j)
        specs = combined.specs()
        if specs != plan.specs:
            out[name] = dataclasses.replace(plan, specs=specs,
                                            cursor_candidates=ff.cursor_candidates(specs, plan.increasing))
    return out


def _guard(path: Path, fn: Any, *args: Any) -> Any:
    """Run `fn`, turning OS errors into `SourceError`s that name the file; wraps generators too."""
    try:
        result = fn(*args)
    except PermissionError as exc:
        raise _denied(path) from exc
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"{path} disappeared while reading", file=str(path)) from exc
    if isinstance(result, Iterator):
        return _guard_iter(path, result)
    return result


def _guard_iter(path: Path, it: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from it
    except PermissionError as exc:
        raise _denied(path) from exc
    except FileNotFoundError as exc:
        raise ObjectNotFoundError(f"{path} disappeared while reading", file=str(path)) from exc


def _denied(path: Path) -> SourceError:
    return SourceError(
        f"permission denied reading {path}",
        hint="give the account running urbanbrain read access to the file and its folder",
        file=str(path),
    )


@dataclass(frozen=True)
class _CursorFilter:
    column: str
    index: int
    value: pa.Scalar


def _cursor_filter(plan: ff.Plan, cursor: Cursor | None) -> _CursorFilter | None:
    if cursor is None:
        return None
    names = [s.name for s in plan.specs]
    if cursor.column not in names:
        raise ValidationError(f"cursor column {cursor.column!r} is not a column of this file", columns=names)
    idx = names.index(cursor.column)
    return _CursorFilter(cursor.column, idx, cursor_scalar(cursor.value, plan.specs[idx].type))


def cursor_scalar(value: str, target: pa.DataType) -> pa.Scalar:
    """The cursor's text value as a scalar of the column's type (ISO text for times)."""
    text = pa.array([value], pa.string())
    attempts: list[Any] = [lambda: pc.cast(text, target)]
    if pa.types.is_timestamp(target):
        naive = pa.timestamp(target.unit)
        if target.tz:  # a naive value is taken as UTC
            attempts.append(lambda: pc.assume_timezone(pc.cast(text, naive), target.tz))
        else:  # an offset value is converted to UTC wall time
            attempts.append(lambda: pc.cast(pc.cast(text, pa.timestamp(target.unit, "UTC")), naive))
    if pa.types.is_date(target):
        attempts.append(lambda: pc.cast(pa.array([value[:10]]), target))
    for attempt in attempts:
        try:
            return attempt()[0]
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    raise ValidationError(f"cursor value {value!r} cannot be compared with a {target} column")


def _finish(
    raw: pa.RecordBatch, plan: ff.Plan, cursor: _CursorFilter | None, rejects: list[Reject], inclusive: bool
) -> Batch:
    """Convert a raw batch, apply the cursor and drop (into rejects) rows that failed to convert."""
    rejects = list(rejects)
    if plan.typed:
        data, bad, row_rejects = raw, None, {}
    else:
        conv = coerce.convert_batch(ff.nullify_batch(raw, plan.null_values), plan.specs)
        data, bad, row_rejects = conv.data, conv.bad, conv.rejects
    keep: pa.Array | None = None
    if cursor is not None:
        col = data.column(cursor.index)
        beyond = pc.greater_equal(col, cursor.value) if inclusive else pc.greater(col, cursor.value)
        keep = pc.fill_null(beyond, False)
        # a bad row is old news only if its cursor value parsed and is not beyond the cursor
        not_old = pc.invert(pc.fill_null(pc.invert(beyond), False))
        row_rejects = {i: r for i, r in row_rejects.items() if not_old[i].as_py()}
    rejects.extend(row_rejects[i] for i in sorted(row_rejects))
    if bad is not None:
        good = pc.invert(bad)
        keep = good if keep is None else pc.and_(keep, good)
    if keep is not None:
        data = data.filter(keep)
    return Batch(data if data.num_rows else None, rejects)
