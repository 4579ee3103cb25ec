"""The city's enterprises (ground truth) and the way other departments write them down.

Market regulation holds the registry; social insurance, ecology, emergency management, housing and
the hotline each keep their own copy of "the same" firm -- with 长沙市 dropped, 有限公司 written as
有限责任公司, half-width brackets, an old address, or no credit code at all. A hidden `__enterprise_id`
column carries the truth to `truth.py`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.demo import geo, identity
from urbanbrain.demo.people import replace_where

BRAND = list("湘岳麓星城楚天华兴隆盛鑫源泰恒达通宏远博创新智联海航德信诚和美嘉瑞丰金银芙蓉橘洲")
INDUSTRIES = [
    ("科技", "信息传输、软件和信息技术服务业"), ("商贸", "批发和零售业"), ("餐饮管理", "住宿和餐饮业"),
    ("建筑工程", "建筑业"), ("物流", "交通运输、仓储和邮政业"), ("医药", "卫生和社会工作"),
    ("教育咨询", "教育"), ("环保科技", "水利、环境和公共设施管理业"), ("房地产开发", "房地产业"),
    ("汽车服务", "居民服务、修理和其他服务业"), ("机械制造", "制造业"), ("化工", "制造业"),
    ("食品", "制造业"), ("文化传媒", "文化、体育和娱乐业"), ("物业管理", "房地产业"),
]
FORMS = ["有限公司", "有限责任公司", "股份有限公司", "个人独资企业"]
FORM_P = [0.72, 0.16, 0.04, 0.08]
STATUS = ["存续", "在业", "迁出", "吊销", "注销"]
STATUS_P = [0.62, 0.25, 0.03, 0.04, 0.06]


def enterprises(n: int, addresses: pa.Table, rng: np.random.Generator) -> pa.Table:
    """Ground-truth enterprises with unique names and valid unified social credit codes."""
    letters = np.array(BRAND)
    brand = np.char.add(letters[rng.integers(0, len(BRAND), n)], letters[rng.integers(0, len(BRAND), n)])
    ind = rng.integers(0, len(INDUSTRIES), n)
    trade = np.array([INDUSTRIES[i][0] for i in ind])
    form = np.array(FORMS)[rng.choice(len(FORMS), n, p=FORM_P)]
    names = np.char.add(np.char.add(np.char.add("长沙", brand), trade), form)
    # uniqueness, as the registry enforces it: a clash gets a numbered brand (长沙湘岳二科技有限公司)
    seen: dict[str, int] = {}
    digits = "一二三四五六七八九十"
    unique = []
    for k, name in enumerate(names.tolist()):
        count = seen.get(name, 0)
        seen[name] = count + 1
        numbered = f"{brand[k]}{digits[(count - 1) % 10]}{count // 10 or ''}"
        unique.append(name if count == 0 else f"长沙{numbered}{trade[k]}{form[k]}")
    addr = addresses.take(pa.array(rng.integers(0, addresses.num_rows, n)))
    codes = np.array(identity.credit_codes(np.asarray(addr.column("district_code").to_pylist()), rng))
    for _ in range(20):
        _, first = np.unique(codes, return_index=True)
        dup = np.setdiff1d(np.arange(n), first)
        if not len(dup):
            break
        codes[dup] = identity.credit_codes(np.asarray(addr.column("district_code").to_pylist())[dup], rng)
    established = np.datetime64("2024-06-01") - rng.integers(30, 30 * 365, n).astype("timedelta64[D]")
    return pa.table({
        "enterprise_id": np.char.add("E", np.char.zfill(np.arange(1, n + 1).astype(str), 8)),
        "name": unique,
        "credit_code": codes,
        "industry": np.array([INDUSTRIES[i][1] for i in ind]),
        "form": form,
        "registered_capital_wan": np.round(rng.lognormal(5.0, 1.4, n), 2),
        "established": pa.array(established, pa.date32()),
        "status": np.array(STATUS)[rng.choice(len(STATUS), n, p=STATUS_P)],
        "address_id": addr.column("address_id"),
        "district_code": addr.column("district_code"),
        "phone": identity.mobiles(n, rng),
        "employees": np.maximum(1, rng.lognormal(2.3, 1.3, n).astype(int)),
    })


def name_variant(names: list[str], rng: np.random.Generator) -> list[str]:
    """How other departments write a firm's name: 长沙→长沙市, dropped city, legal form or brackets changed."""
    out = []
    for name in names:
        k = int(rng.integers(0, 5))
        if k == 0:
            out.append(name.replace("长沙", "长沙市", 1))
        elif k == 1:
            out.append(name.removeprefix("长沙"))
        elif k == 2:
            out.append(name.replace("有限责任公司", "有限公司") if "有限责任公司" in name
                       else name.replace("有限公司", "有限责任公司"))
        elif k == 3:
            out.append(f"{name[:2]}({name[2:4]}){name[4:]}" if len(name) > 6 else name + " ")
        else:
            out.append(name.replace("公司", "公 司"))
        if out[-1] == name:  # the chosen variation did not apply to this name (个人独资企业 has no 公司)
            out[-1] = name.replace("长沙", "长沙市", 1) if name.startswith("长沙") else f"长沙市{name}"
    return out


def enterprise_view(firms: pa.Table, addresses: pa.Table, rng: np.random.Generator, *, share: float = 1.0,
                    name_variation: float = 0.2, no_code: float = 0.1, styles: tuple[int, ...] = (0, 1, 3)) -> pa.Table:
    """A department's copy of (a share of) the enterprises: name, credit_code, address, `__enterprise_id`."""
    keep = np.flatnonzero(rng.random(firms.num_rows) < share)
    rng.shuffle(keep)
    sub = firms.take(pa.array(keep))
    m = sub.num_rows
    names = sub.column("name")
    mask = rng.random(m) < name_variation
    if mask.any():
        names = replace_where(names, mask, name_variant(np.array(names.to_pylist())[mask].tolist(), rng))
    code = pc.if_else(pa.array(rng.random(m) < no_code), pa.scalar(None, pa.string()), sub.column("credit_code"))
    addr_rows = addresses.take(pc.index_in(sub.column("address_id"), addresses.column("address_id")))
    style = np.array(styles, dtype=np.int8)[rng.integers(0, len(styles), m)]
    return pa.table({"name": names, "credit_code": code,
                     "address": pa.array(geo.format_addresses(addr_rows, style), pa.string()),
                     "district_code": sub.column("district_code"), "industry": sub.column("industry"),
                     "__enterprise_id": sub.column("enterprise_id"), "__address_id": sub.column("address_id")})
