"""How often would auto-dispatch have sent a case to the right department the first time?

Learn from earlier closed cases, test on later ones (a time split, as the system would be used: no
future case teaches the past). Two ways to decide, reported separately and per category with the
confusions:

* `category` — the category is given (the caller chose it, as in 311 apps): the department comes from a
  dispatch catalogue learned from the training years (the department that handled most of a
  category's cases, per district where the district's own majority differs). A category never seen
  is decided from its text as below (new request types appear every year).
* `text` — from the free text alone: a text classifier trained on the earlier cases proposes the
  department with a probability; at or above `threshold` it dispatches, below it goes to the inbox.

"First-time right" counts a test case as right only when it was dispatched automatically to the
department that finally handled it; inbox cases count as not first-time right (coverage is reported).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from urbanbrain.core.errors import ValidationError


@dataclass(frozen=True)
class Closed:
    """One closed case as the evaluation sees it."""

    created_at: datetime
    category: str
    text: str
    district: str | None
    department: str


def learn_catalogue(cases: Iterable[Closed]) -> dict[tuple[str, str | None], str]:
    """(category, None) → majority department; (category, district) where that district's majority differs."""
    by_cat: dict[str, Counter[str]] = defaultdict(Counter)
    by_cat_district: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for c in cases:
        by_cat[c.category][c.department] += 1
        if c.district:
            by_cat_district[(c.category, c.district)][c.department] += 1
    rules: dict[tuple[str, str | None], str] = {(cat, None): cnt.most_common(1)[0][0] for cat, cnt in by_cat.items()}
    for (cat, district), cnt in by_cat_district.items():
        top, n = cnt.most_common(1)[0]
        if top != rules[(cat, None)] and n >= 3 and n / sum(cnt.values()) > 0.5:
            rules[(cat, district)] = top
    return rules


def _text_model(texts: Sequence[str], labels: Sequence[str]) -> Any:
    """TF-IDF over character 2–4-grams and words + logistic regression: small, fast, language-neutral.
    (The Chinese complaint classifier's jieba features add nothing on English request types.)"""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from threadpoolctl import threadpool_limits

    features = FeatureUnion([("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)),
                             ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True))])
    model = Pipeline([("features", features), ("clf", LogisticRegression(C=20.0, max_iter=3000))])
    # many cases share a text (a form's request type): fit each distinct (text, label) once, weighted
    pairs = Counter(zip(texts, labels, strict=True))
    with threadpool_limits(limits=1):
        return model.fit([t for t, _ in pairs], [lab for _, lab in pairs], clf__sample_weight=list(pairs.values()))


def evaluate(train: Sequence[Closed], test: Sequence[Closed], *, mode: str = "category",
             threshold: float = 0.5) -> dict[str, Any]:
    """First-time-right rate overall and per category, coverage, and the confusions."""
    if not train or not test:
        raise ValidationError(f"need closed cases on both sides of the split (train {len(train)}, test {len(test)})",
                              hint="choose a --since date inside the history")
    predicted: list[str | None] = []
    confidence: list[float] = []
    if mode not in ("category", "text"):
        raise ValidationError(f"unknown evaluation mode {mode!r}", hint="use category or text")
    rules = learn_catalogue(train) if mode == "category" else {}
    for c in test:
        predicted.append(rules.get((c.category, c.district)) or rules.get((c.category, None)))
        confidence.append(1.0 if predicted[-1] else 0.0)
    unknown = [k for k, p in enumerate(predicted) if p is None]  # text mode: all; category mode: new categories
    if unknown:
        if len({c.department for c in train}) < 2:
            raise ValidationError("the training cases name a single department; nothing to learn")
        from threadpoolctl import threadpool_limits

        # a new category is itself the best text there is when it is given (its name and code)
        def words(c: Closed) -> str:
            return f"{c.category} {c.text}" if mode == "category" else c.text

        model = _text_model([words(c) for c in train], [c.department for c in train])
        with threadpool_limits(limits=1):
            proba = model.predict_proba([words(test[k]) for k in unknown])
        classes = list(model.classes_)
        for k, row in zip(unknown, proba, strict=True):
            best = int(row.argmax())
            confidence[k] = float(row[best])
            predicted[k] = str(classes[best]) if row[best] >= threshold else None
    per_cat: dict[str, Counter[str]] = defaultdict(Counter)
    confusions: Counter[tuple[str, str]] = Counter()
    right = auto = 0
    for c, p in zip(test, predicted, strict=True):
        per_cat[c.category]["cases"] += 1
        if p is None:
            per_cat[c.category]["inbox"] += 1
            continue
        auto += 1
        if p == c.department:
            right += 1
            per_cat[c.category]["right"] += 1
        else:
            confusions[(c.department, p)] += 1
    rows: list[dict[str, Any]] = [{"category": cat, "cases": n["cases"], "inbox": n["inbox"],
                                   "first_time_right": round(n["right"] / n["cases"], 4)} for cat, n in per_cat.items()]
    rows.sort(key=lambda r: (-r["cases"], r["category"]))
    return {"mode": mode, "train": len(train), "test": len(test), "threshold": threshold,
            "first_time_right": round(right / len(test), 4), "auto_dispatched": round(auto / len(test), 4),
            "right_when_auto": round(right / auto, 4) if auto else None,
            "baseline_majority": round(max(Counter(c.department for c in test).values()) / len(test), 4),
            "per_category": rows,
            "confusions": [{"actual": a, "proposed": p, "cases": n} for (a, p), n in confusions.most_common(15)]}


def split(cases: Sequence[Closed], since: datetime) -> tuple[list[Closed], list[Closed]]:
    return [c for c in cases if c.created_at < since], [c for c in cases if c.created_at >= since]


def read_311_csv(path: Path) -> list[Closed]:
    """Closed requests of an Open Baltimore 311 export. The text is the request type's name without its
    agency code (`SW-Dirty Alley` → `Dirty Alley`): the sample carries no free-text description, and the
    code prefix would name the agency outright. Duplicates and transfers are left out: their agency is
    not the one that handled the problem."""
    out = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["SRStatus"] != "Closed" or not row["Agency"]:
                continue
            sr_type = row["SRType"].strip()
            text = sr_type.split("-", 1)[1] if "-" in sr_type else sr_type
            out.append(Closed(datetime.strptime(row["CreatedDate"], "%m/%d/%Y %I:%M:%S %p"), sr_type, text.strip(),
                              row.get("CouncilDistrict") or None, row["Agency"]))
    return out


def closed_cases() -> list[Closed]:
    """This city's closed cases with the department that finally handled them."""
    from sqlalchemy import select

    from urbanbrain.core.clock import as_utc
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case

    with session_scope() as s:
        rows = s.execute(select(Case.created_at, Case.category, Case.description, Case.district, Case.department)
                         .where(Case.status == "closed", Case.category.is_not(None), Case.department.is_not(None))
                         .order_by(Case.created_at)).all()
    return [Closed(as_utc(t).replace(tzinfo=None), str(c), str(d), dist, str(dept)) for t, c, d, dist, dept in rows]


def live_first_time_right(since: datetime | None = None) -> dict[str, Any]:
    """How often the first dispatch of a closed case (automatic or by a dispatcher) went to the
    department that closed it, per category — read from the cases' history."""
    from sqlalchemy import select

    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case, CaseEvent

    with session_scope() as s:
        q = select(Case.id, Case.category, Case.department).where(Case.status == "closed")
        if since is not None:
            q = q.where(Case.created_at >= since)
        finals = {cid: (cat, dept) for cid, cat, dept in s.execute(q)}
        first: dict[str, tuple[str, str]] = {}
        for cid, detail, actor in s.execute(select(CaseEvent.case_id, CaseEvent.detail, CaseEvent.actor)
                                            .where(CaseEvent.action == "dispatch").order_by(CaseEvent.id)):
            if cid in finals and cid not in first:
                first[cid] = (str((detail or {}).get("department")), actor)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for cid, (cat, dept) in finals.items():
        if cid in first:
            per[str(cat)]["cases"] += 1
            per[str(cat)]["right"] += first[cid][0] == dept
            per[str(cat)]["auto"] += first[cid][1] == "system:auto-dispatch"
    total = sum(n["cases"] for n in per.values())
    return {"closed": total, "first_time_right": round(sum(n["right"] for n in per.values()) / total, 4)
            if total else None,
            "per_category": [{"category": c, "cases": n["cases"], "auto": n["auto"],
                              "first_time_right": round(n["right"] / n["cases"], 4)} for c, n in sorted(per.items())]}
