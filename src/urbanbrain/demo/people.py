"""The city's residents (ground truth) and how each department's records of them drift from it.

One person appears in the household register, social insurance, health, education, civil affairs,
housing and the 12345 hotline -- each time a little differently, as in real government data: a
homophone typo in the name, an address written another way, an outdated or missing mobile number,
now and then a mistyped ID number. Entity resolution (the `link` package) has to undo exactly this,
so every view keeps a hidden `__person_id` column that the builder moves into the ground truth.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.demo import geo, identity

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈"
                "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹熊秦江尹易雷龙贺颜欧")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂华文辉建国玲红志鹏宇浩婷雪梅琳晶斌波峰欣怡佳俊"
             "子涵梓轩睿博思雨晨阳湘岳麓星海林兰清正德福荣")
HOMOPHONES = dict(zip("张王李刘陈杨黄周吴徐林明华伟丽军平红芳文建国玲静杰勇磊涛"
                      "斌敏燕辉霞强娟英海波鹏宇婷浩志刚俊峰欣雪彭谭曾唐",
                      "章汪黎柳程阳王邹伍许凌铭桦玮莉君萍虹方雯健郭琳晶洁永蕾滔"
                      "彬闵艳晖侠蔷鹃瑛亥博朋雨亭皓智钢骏锋馨薛澎潭增汤",
                      strict=True))
EDUCATION = ["小学", "初中", "高中", "中专", "大专", "本科", "硕士研究生", "博士研究生"]
MINORITIES = np.array(["土家族", "苗族", "回族", "侗族"])  # Hunan's largest minorities
EDU_P = [0.12, 0.28, 0.17, 0.08, 0.14, 0.17, 0.035, 0.005]


def _names(n: int, rng: np.random.Generator) -> np.ndarray:
    sur = np.array(SURNAMES)[np.minimum(rng.zipf(1.3, n) - 1, len(SURNAMES) - 1)]
    g1 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    g2 = np.array(GIVEN)[rng.integers(0, len(GIVEN), n)]
    two = rng.random(n) < 0.7
    return np.where(two, np.char.add(np.char.add(sur, g1), g2), np.char.add(sur, g1))


def persons(n: int, addresses: pa.Table, enterprise_ids: list[str], rng: np.random.Generator,
            first_id: int = 1) -> pa.Table:
    """Ground-truth residents: one row per real person, with unique resident ID numbers.

    `first_id` lets `large` build the population in chunks with globally unique `person_id`s.
    """
    names = _names(n, rng)
    male = rng.random(n) < 0.51
    age_days = (rng.beta(2.0, 2.6, n) * 95 * 365.25).astype("timedelta64[D]")
    birth = np.datetime64("2024-06-30") - age_days
    addr_idx = rng.integers(0, addresses.num_rows, n)
    home = addresses.take(pa.array(addr_idx))
    born_here = rng.random(n) < 0.7  # the rest were born elsewhere in Hunan, keeping their birthplace code
    elsewhere = np.array(["430202", "430302", "430405", "430502", "430602", "430702", "431102", "431202", "432502"])
    area = np.where(born_here, np.asarray(home.column("district_code").to_pylist()),
                    elsewhere[rng.integers(0, len(elsewhere), n)])
    ids = np.array(identity.id_numbers(area, birth, male, rng))
    for _ in range(20):  # re-draw the (rare) duplicate ID numbers within this chunk
        _, first = np.unique(ids, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if not len(dup):
            break
        ids[dup] = identity.id_numbers(area[dup], birth[dup], male[dup], rng)
    age_years = age_days.astype(int) / 365.25
    working = (age_years >= 18) & (age_years < 60) & (rng.random(n) < 0.62) & bool(enterprise_ids)
    employer = np.where(working, np.array(enterprise_ids or [""])[rng.integers(0, max(1, len(enterprise_ids)), n)],
                        "")
    has_old = rng.random(n) < 0.35
    old_phone = np.where(has_old, np.array(identity.mobiles(n, rng)), "")
    return pa.table({
        "person_id": np.char.add("P", np.char.zfill(np.arange(first_id, first_id + n).astype(str), 9)),
        "name": names,
        "sex": np.where(male, "男", "女"),
        "birth_date": pa.array(birth.astype("datetime64[D]"), pa.date32()),
        "id_number": ids,
        "phone": identity.mobiles(n, rng),
        "old_phone": pa.array(old_phone).cast(pa.string()),
        "address_id": home.column("address_id"),
        "hukou_district_code": home.column("district_code"),
        "education": np.array(EDUCATION)[rng.choice(len(EDUCATION), n, p=EDU_P)],
        "employer_id": pa.array(employer).cast(pa.string()),
        "ethnicity": np.where(rng.random(n) < 0.96, "汉族", MINORITIES[rng.integers(0, len(MINORITIES), n)]),
    })


def typo(names: list[str], rng: np.random.Generator) -> list[str]:
    """One realistic slip per name: a homophone, a dropped character, or a swapped pair (never a no-op)."""
    out = []
    for name in names:
        swappable = [i for i, c in enumerate(name) if c in HOMOPHONES]
        candidates = []
        if swappable:
            i = swappable[int(rng.integers(0, len(swappable)))]
            candidates.append(name[:i] + HOMOPHONES[name[i]] + name[i + 1:])
        if len(name) == 3:
            candidates += [name[:2], name[0] + name[2] + name[1]]
        candidates = [c for c in candidates if c != name]
        if candidates:
            out.append(candidates[int(rng.integers(0, len(candidates)))])
        else:  # e.g. 张雨雨 with no homophone: mis-hear the last character
            out.append(name[:-1] + next(g for g in GIVEN[int(rng.integers(0, len(GIVEN))):] + GIVEN if g != name[-1]))
    return out


def mistype_id(ids: list[str], rng: np.random.Generator) -> list[str]:
    """Two adjacent digits transposed: the classic keying error (the check character then fails)."""
    out = []
    for text in ids:
        i = int(rng.integers(6, 16))
        swapped = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        out.append(swapped if swapped != text else text[:16] + str((int(text[16]) + 1) % 10) + text[17])
    return out


def replace_where(column: pa.Array | pa.ChunkedArray, mask: np.ndarray, values: list[str]) -> pa.Array:
    """`column` with the rows selected by `mask` replaced, in order, by `values`."""
    data = np.array(column.to_pylist(), dtype=object)
    data[mask] = values
    return pa.array(data.tolist(), pa.string())


def person_view(people: pa.Table, addresses: pa.Table, rng: np.random.Generator, *, share: float = 1.0,
                name_typo: float = 0.03, id_typo: float = 0.003, stale_phone: float = 0.15,
                no_phone: float = 0.05, no_address: float = 0.03, styles: tuple[int, ...] = (0, 1, 2)) -> pa.Table:
    """A department's copy of (a share of) the residents: name, id_number, phone, address, `__person_id`.

    Rates are per department because real departments differ: the household register rarely has
    typos but often outdated phones; the hotline has many missing ID numbers (set `id_typo` and
    mask afterwards). Rows come back in a random order, as exports do.
    """
    n = people.num_rows
    keep = np.flatnonzero(rng.random(n) < share)
    rng.shuffle(keep)
    sub = people.take(pa.array(keep))
    m = sub.num_rows
    names = sub.column("name")
    mask = rng.random(m) < name_typo
    if mask.any():
        names = replace_where(names, mask, typo(np.array(names.to_pylist())[mask].tolist(), rng))
    ids = sub.column("id_number")
    mask = rng.random(m) < id_typo
    if mask.any():
        ids = replace_where(ids, mask, mistype_id(np.array(ids.to_pylist())[mask].tolist(), rng))
    old = sub.column("old_phone")
    stale = (rng.random(m) < stale_phone) & np.asarray(pc.not_equal(old, "").to_numpy(zero_copy_only=False))
    phone = pc.if_else(pa.array(stale), old, sub.column("phone"))
    phone = pc.if_else(pa.array(rng.random(m) < no_phone), pa.scalar(None, pa.string()), phone)
    addr_rows = addresses.take(pc.index_in(sub.column("address_id"), addresses.column("address_id")))
    style = np.array(styles, dtype=np.int8)[rng.integers(0, len(styles), m)]
    address = pa.array(geo.format_addresses(addr_rows, style), pa.string())
    address = pc.if_else(pa.array(rng.random(m) < no_address), pa.scalar(None, pa.string()), address)
    return pa.table({"name": names, "id_number": ids, "phone": phone, "address": address,
                     "sex": sub.column("sex"), "birth_date": sub.column("birth_date"),
                     "__person_id": sub.column("person_id"), "__address_id": sub.column("address_id")})
