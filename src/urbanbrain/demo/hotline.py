"""12345 citizen hotline tickets: free-text complaints, category, responsible department, status history.

The hotline is the city brain's richest signal of what residents actually experience, and the
classic input of the "event closed loop" (受理 → 派单 → 处置 → 办结 → 回访). Texts come from templates
filled with real roads and districts so that text search and classification have something to chew on.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.demo import geo

# category -> (responsible department code, complaint templates; {road} {district} {n} are filled in)
CATEGORIES: dict[str, tuple[str, list[str]]] = {
    "噪音扰民": ("urban", ["{road}附近工地夜间施工噪音很大，晚上十一点后还在施工，严重影响休息，请尽快处理。",
                       "{district}{road}{n}号楼下广场舞音响声音太大，每天晚上持续到十点，希望有关部门管一管。"]),
    "占道经营": ("urban", ["{road}与{road2}交叉口有流动摊贩占道经营，导致行人只能走机动车道，存在安全隐患。"]),
    "环境污染": ("ecology", ["{district}{road}一带有工厂排放刺鼻气味，晚上尤其明显，怀疑偷排废气。",
                         "{road}旁边的河道发黑发臭，有排污口直排，请环保部门调查。"]),
    "交通出行": ("transport", ["{n}路公交车经常晚点，{road}站等车超过四十分钟，希望增加班次。",
                           "{road}路口信号灯配时不合理，早高峰拥堵严重。"]),
    "物业纠纷": ("housing", ["{district}{road}{n}号小区物业不作为，电梯坏了一个月没人修，老人上下楼困难。"]),
    "房屋质量": ("housing", ["新买的房子在{road}，交房不到一年外墙渗水，开发商推诿，请住建部门督促整改。"]),
    "劳动保障": ("hrss", ["在{road}一家公司工作，老板拖欠工资三个月，共计{n}00元，请求帮助追讨。",
                       "公司没有给员工缴纳社保，已经工作两年了，要求补缴。"]),
    "医疗卫生": ("health", ["{district}某医院挂号难，排队三个小时，希望改进预约系统。"]),
    "教育": ("education", ["孩子入学积分怎么算？户口在{district}，房子在{road}，想咨询学位分配政策。"]),
    "户籍办理": ("police", ["想咨询在{district}办理户口迁入需要哪些材料，网上说法不一致。"]),
    "市场监管": ("market", ["在{road}一家超市买到过期食品，商家拒绝退换，请市场监管部门查处。",
                         "{road}附近的餐馆后厨卫生很差，看到有老鼠。"]),
    "安全隐患": ("emergency", ["{road}有商铺违规存放液化气罐，存在火灾隐患。"]),
    "社会救助": ("civil", ["家里老人生病无人照顾，想申请低保，请问{district}哪里可以办理？"]),
}
CHANNELS = ["电话", "微信公众号", "网站", "APP", "短信"]
CHANNEL_P = [0.62, 0.18, 0.08, 0.1, 0.02]
FLOW = ["已受理", "已派单", "处理中", "已办结", "已回访"]


def tickets(n: int, people: pa.Table, addresses: pa.Table, start: np.datetime64, days: int,
            rng: np.random.Generator, first_id: int = 1) -> tuple[pa.Table, pa.Table]:
    """(tickets, ticket_events). About 25% of callers give no name; a third no ID number at all."""
    cats = list(CATEGORIES)
    weights = np.array([9, 4, 5, 8, 6, 2, 5, 3, 3, 2, 5, 2, 2], dtype=float)
    cat = rng.choice(len(cats), n, p=weights / weights.sum())
    # calls follow the day: few at night, peaks at 10:00 and 15:00
    hour = rng.choice(24, n, p=_hour_profile())
    created = (start + rng.integers(0, days, n).astype("timedelta64[D]") + hour.astype("timedelta64[h]")
               + rng.integers(0, 3600, n).astype("timedelta64[s]"))
    order = np.argsort(created)
    cat, created = cat[order], created[order]
    caller = rng.integers(0, people.num_rows, n)
    who = people.take(pa.array(caller))
    addr = addresses.take(pa.array(rng.integers(0, addresses.num_rows, n)))
    roads = addr.column("road").to_pylist()
    districts = addr.column("district").to_pylist()
    all_roads = [r for d in geo.districts() for r in d.roads]
    texts = []
    for k in range(n):
        templates = CATEGORIES[cats[cat[k]]][1]
        tpl = templates[int(rng.integers(0, len(templates)))]
        texts.append(tpl.format(road=roads[k], road2=all_roads[int(rng.integers(0, len(all_roads)))],
                                district=districts[k], n=int(rng.integers(1, 400))))
    steps = rng.choice([2, 3, 4, 5], n, p=[0.08, 0.12, 0.3, 0.5])
    gaps = rng.exponential(8.0, (n, 5)).astype("timedelta64[h]") + np.timedelta64(10, "m")
    times = created[:, None] + np.cumsum(gaps, axis=1) - gaps[:, :1]
    ids = np.char.add("GD", np.char.zfill(np.arange(first_id, first_id + n).astype(str), 10))
    anonymous = rng.random(n) < 0.25
    no_id = rng.random(n) < 0.35
    final = np.array(FLOW)[steps - 1]
    updated = times[np.arange(n), steps - 1]
    verdict = np.array(["满意", "基本满意", "不满意"])[rng.choice(3, n, p=[0.7, 0.2, 0.1])]
    satisfaction = pc.if_else(pa.array(steps == 5), pa.array(verdict), pa.scalar(None, pa.string()))
    null = pa.scalar(None, pa.string())
    ticket_table = pa.table({
        "ticket_id": ids,
        "created_at": pa.array(created.astype("datetime64[s]"), pa.timestamp("s")),
        "channel": np.array(CHANNELS)[rng.choice(len(CHANNELS), n, p=CHANNEL_P)],
        "caller_name": pc.if_else(pa.array(anonymous), null, who.column("name")),
        "caller_phone": who.column("phone"),
        "caller_id_number": pc.if_else(pa.array(no_id | anonymous), null, who.column("id_number")),
        "district": districts,
        "address": geo.format_addresses(addr, rng.integers(1, 5, n).astype(np.int8)),
        "category": np.array(cats)[cat],
        "content": texts,
        "department": [CATEGORIES[cats[c]][0] for c in cat],
        "status": final,
        "satisfaction": satisfaction,
        "updated_at": pa.array(updated.astype("datetime64[s]"), pa.timestamp("s")),
        "__person_id": who.column("person_id"),
        "__address_id": addr.column("address_id"),
    })
    rows = np.repeat(np.arange(n), steps)
    step_no = np.concatenate([np.arange(s) for s in steps]) if n else np.array([], dtype=int)
    events = pa.table({
        "event_id": np.char.add(np.char.add(ids[rows], "-"), (step_no + 1).astype(str)),
        "ticket_id": ids[rows],
        "status": np.array(FLOW)[step_no],
        "at": pa.array(times[rows, step_no].astype("datetime64[s]"), pa.timestamp("s")),
        "actor": np.where(step_no < 2, "12345热线", np.array([CATEGORIES[cats[c]][0] for c in cat])[rows]),
    })
    return ticket_table, events


def _hour_profile() -> np.ndarray:
    hours = np.arange(24)
    p = 0.2 + np.exp(-((hours - 10) ** 2) / 6) + 0.8 * np.exp(-((hours - 15) ** 2) / 8)
    p = p + 0.3 * (hours >= 19) * (hours <= 22)
    return np.asarray(p / p.sum())
