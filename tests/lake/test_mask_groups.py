"""How data files are grouped into masked twins (`lake.maskcache.groups`): every file in exactly one
group, groups bounded in bytes and files, the same files always giving the same groups, and an
append regrouping only around what it added (so the other twins are found again)."""

from __future__ import annotations

import random
from pathlib import Path

from urbanbrain.lake import maskcache

# paths that exist nowhere: their size reads as 0, so only the path hash and the file cap decide
GHOSTS = [f"/nonexistent/ub-groups/day={d:03d}/part-{i}.parquet" for d in range(120) for i in range(2)]


def _flat(groups: list[list[str]]) -> list[str]:
    return [f for g in groups for f in g]


def test_every_file_is_in_exactly_one_group_and_groups_are_bounded() -> None:
    groups = maskcache.groups(GHOSTS)
    assert sorted(_flat(groups)) == sorted(GHOSTS) and len(_flat(groups)) == len(set(_flat(groups)))
    assert all(1 <= len(g) <= maskcache.GROUP_FILES for g in groups)
    assert 240 / maskcache.GROUP_FILES <= len(groups) < 240 / 4  # ~16 files a group, far fewer scans than files
    shuffled = GHOSTS[:]
    random.Random(7).shuffle(shuffled)
    assert maskcache.groups(shuffled) == groups  # the listing order does not matter
    assert maskcache.groups([]) == [[]]  # an empty table still has one (empty) view


def test_groups_stay_under_the_byte_limit_unless_one_file_alone_is_larger(tmp_path: Path) -> None:
    sizes = [30, 30, 30, 30, 30, 200, 10, 10, 90, 40]  # MB (sparse files: nothing is written)
    files = []
    for n, mb in enumerate(sizes):
        f = tmp_path / f"f{n:02d}.parquet"
        with open(f, "wb") as out:
            out.truncate(mb * 1024 ** 2)
        files.append(str(f))
    limit = 100 * 1024 ** 2
    groups = maskcache.groups(files, limit=limit)
    assert sorted(_flat(groups)) == sorted(files)
    for g in groups:
        total = sum(Path(f).stat().st_size for f in g)
        assert total <= limit or len(g) == 1
    assert [str(tmp_path / "f05.parquet")] in groups  # the 200 MB file is a group of its own
    # the default limit keeps every twin under what the cache keeps (mask_cache_max_bytes)
    assert all(sum(Path(f).stat().st_size for f in g) <= maskcache.GROUP_BYTES or len(g) == 1
               for g in maskcache.groups(files))


def test_an_append_regroups_only_around_the_new_files() -> None:
    before = maskcache.groups(GHOSTS)
    after = maskcache.groups([*GHOSTS, "/nonexistent/ub-groups/day=050/part-9.parquet",
                              "/nonexistent/ub-groups/day=121/part-0.parquet"])
    kept = {tuple(g) for g in before} & {tuple(g) for g in after}
    assert len(kept) >= len(before) - 3  # each new file changes its own group (and at most the next)
