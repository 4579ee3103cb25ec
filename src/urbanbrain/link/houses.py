"""Records that name only a house join one dwelling there, by a fixed rule instead of a score.

`长沙市芙蓉区五一大道123号` names a house (road + number), not a flat; it is compatible with every flat of
the building. Scored by the model, it links to all of them, and connected components then join every
flat of the house into one entity (F1 0.94 on the small demo). Instead the model blocks only on
dwelling keys (road + number + building + room), and a *partial* record -- road and number present,
no room -- is attached here to one *anchor* record:

1. the dwelling at that house (road + number, and the building if the record names one) with the
   most records -- the flat the departments mostly mean -- ties broken by the lowest dwelling key;
   its anchor is that dwelling's lowest unique_id;
2. with no dwelling there, the partial records of the same house (and building) join the lowest
   unique_id among them.

The result is a star of pairs per house, so the work is linear in the records, and a steward can see
why a record was attached (its `match_probability` is the rule's, the model's threshold) and reject the
pair like any other. An incremental run attaches new partial records against the registry as it is;
a `--full` run re-decides every anchor.
"""

from __future__ import annotations

import pyarrow as pa

from urbanbrain.core import duck

COLUMNS = ("unique_id", "addr_road", "addr_number", "addr_building", "addr_room")
PAIRS = pa.schema([("uid_l", pa.string()), ("uid_r", pa.string()), ("probability", pa.float64())])

_SQL = """
WITH pool AS (
    SELECT unique_id, addr_road AS road, addr_number AS num, addr_building AS bld, addr_room AS room
    FROM ub_pool WHERE addr_road IS NOT NULL AND addr_number IS NOT NULL),
dwelling AS (  -- one row per dwelling key that some record names in full
    SELECT road, num, bld, room, count(*) AS records, min(unique_id) AS anchor
    FROM pool WHERE room IS NOT NULL AND bld IS NOT NULL GROUP BY ALL),
partial AS (
    SELECT unique_id, addr_road AS road, addr_number AS num, addr_building AS bld FROM ub_batch
    WHERE addr_road IS NOT NULL AND addr_number IS NOT NULL AND addr_room IS NULL),
to_dwelling AS (
    SELECT p.unique_id, d.anchor FROM partial p JOIN dwelling d
      ON d.road = p.road AND d.num = p.num AND (p.bld IS NULL OR d.bld = p.bld)
    QUALIFY row_number() OVER (PARTITION BY p.unique_id ORDER BY d.records DESC, d.bld, d.room) = 1),
house_only AS (  -- partial records of a house no full record names: the lowest one is the anchor
    SELECT road, num, bld, min(unique_id) AS anchor FROM pool WHERE room IS NULL GROUP BY ALL),
to_house AS (
    SELECT p.unique_id, h.anchor FROM partial p
    JOIN house_only h ON h.road = p.road AND h.num = p.num AND h.bld IS NOT DISTINCT FROM p.bld
    WHERE p.unique_id NOT IN (SELECT unique_id FROM to_dwelling))
SELECT unique_id AS uid_l, anchor AS uid_r, ? AS probability
FROM (SELECT * FROM to_dwelling UNION ALL SELECT * FROM to_house)
WHERE unique_id <> anchor ORDER BY uid_l
"""


def house_pairs(batch: pa.Table, registry: pa.Table | None, probability: float) -> pa.Table:
    """A pair (record, anchor, `probability`) for every partial record of `batch`; dwellings and anchors
    are looked for among `batch` and `registry` (records already linked, none of them in `batch`).
    Both need the columns in `COLUMNS`.

    >>> t = pa.table({"unique_id": ["a", "b", "c", "d"], "addr_road": ["五一"] * 4,
    ...               "addr_number": ["1"] * 4, "addr_building": ["3", "3", "4", None],
    ...               "addr_room": ["501", "501", "101", None]})
    >>> house_pairs(t, None, 0.95).to_pylist()
    [{'uid_l': 'd', 'uid_r': 'a', 'probability': 0.95}]
    """
    con = duck.connect()
    try:
        con.register("ub_batch", batch.select(list(COLUMNS)))
        pool = "SELECT * FROM ub_batch"
        if registry is not None:
            con.register("ub_registry", registry.select(list(COLUMNS)))
            pool += " UNION ALL SELECT * FROM ub_registry"
        con.execute(f"CREATE TEMP VIEW ub_pool AS {pool}")
        return con.execute(_SQL, [probability]).fetch_arrow_table().cast(PAIRS)
    finally:
        con.close()
