"""One ID on data nobody here wrote: restaurant listings of two US guides (Fodor's and Zagat, labelled
matches from py_entitymatching), linked end to end through the CLI as a new user would, with no
national ID numbers: system add -> sync -> link map -> link run -> link evaluate --truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from urbanbrain.cli.main import app as cli
from urbanbrain.link import store

DATA = Path(__file__).resolve().parents[1] / "data" / "restaurants"
FODORS = "guides.fodors.fodors"
ZAGAT = "guides.zagat.zagats"


def _json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    return dict(data[0] if isinstance(data, list) else data)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def guides(tmp_path: Path) -> Path:
    for name in ("fodors", "zagats"):
        shutil.copy(DATA / f"{name}.csv", tmp_path / f"{name}.csv")
    _cli("dept", "add", "Restaurant guides", "--code", "guides")
    _cli("system", "add", "fodors", "--dept", "guides", "--kind", "files", "--path", str(tmp_path / "fodors.csv"))
    _cli("system", "add", "zagat", "--dept", "guides", "--kind", "files", "--path", str(tmp_path / "zagats.csv"))
    _cli("sync", "fodors")
    _cli("sync", "zagat")
    return tmp_path


def test_restaurants_of_two_guides_link_end_to_end(guides: Path) -> None:
    out = _cli("link", "map", "organisation", FODORS)
    assert "column name 'addr' means address" in out and "phone" in out
    _cli("link", "map", "organisation", ZAGAT)
    _cli("link", "kind", "mode", "organisation", "link_only")
    run = _json(_cli("link", "run", "organisation", "--format", "json"))
    assert run["records"] == 533 + 331 and run["retrained"] == "no model yet"
    meta = store.load_model_meta("organisation")
    assert meta["engine"] == "generic" and meta["mode"] == "link_only"
    scores = _json(_cli("link", "evaluate", "organisation", "--truth", str(DATA / "matches_fodors_zagats.csv"),
                             "--left", FODORS, "--right", ZAGAT, "--format", "json"))
    assert scores["true_pairs"] == 112
    assert scores["f1"] >= 0.9 and scores["b3_f1"] >= 0.98, scores
