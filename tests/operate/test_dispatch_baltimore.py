"""Auto-dispatch accuracy on real data we do not control: Baltimore 311, learn 2014–2017, test 2018–2019.

The figures are printed (run with -s) and asserted against the targets: ≥ 95 % first-time right where
the category is given, ≥ 85 % from the text alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from urbanbrain.operate.evaluate import evaluate, read_311_csv, split

DATA = Path(__file__).resolve().parents[1] / "data" / "service-requests" / "311_dispatch.csv"


def test_first_time_right_on_baltimore_311() -> None:
    cases = read_311_csv(DATA)
    train, test = split(cases, datetime(2018, 1, 1))
    assert len(train) > 7000 and len(test) > 2000
    given = evaluate(train, test, mode="category")
    text = evaluate(train, test, mode="text")
    for result in (given, text):
        print(json.dumps({k: v for k, v in result.items() if k != "per_category"}, ensure_ascii=False))
        for row in result["per_category"][:15]:
            print(f"  {row['category']:<45} {row['cases']:>5} {row['first_time_right']:.3f} inbox {row['inbox']}")
    assert given["first_time_right"] >= 0.95, given["confusions"]
    assert text["first_time_right"] >= 0.85, text["confusions"]
    assert given["first_time_right"] > given["baseline_majority"] + 0.4  # far above sending all to Solid Waste
    big = [r for r in given["per_category"] if r["cases"] >= 50]
    assert big and all(r["first_time_right"] >= 0.9 or r["category"].startswith("ECC-") for r in big), big
