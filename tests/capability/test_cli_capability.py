"""The capability commands end to end: publish, list --format json, consumer, key, grant, call."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from urbanbrain.capability.base import BUILTINS
from urbanbrain.cli.main import app

runner = CliRunner()


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_publish_list_grant_and_call_from_the_terminal(tmp_path: Path) -> None:
    if "echo" not in BUILTINS.names():  # pragma: no cover - the package ships it
        from tests.capability.echo_spec import SPEC

        BUILTINS.add("echo", SPEC)
    assert "echo" in ok("capability", "publish", "--builtins")
    listed = json.loads(ok("capability", "list", "--format", "json"))
    echo = next(c for c in listed if c["name"] == "echo")
    assert {"name", "category", "owner", "status"} <= set(echo)
    assert echo["owner"] == "bigdata" and echo["status"] == "published" and echo["category"] == "utility"
    assert "echo" in ok("capability", "show", "echo")

    ok("dept", "add", "Urban Management", "--code", "urban")
    ok("consumer", "add", "grid-app", "--dept", "urban")
    key = ok("key", "create", "--consumer", "grid-app", "--expires-days", "30").strip()
    assert key.startswith("ubk_") and len(key) > 40
    assert key not in ok("key", "list", "--consumer", "grid-app", "--format", "json")

    refused = runner.invoke(app, ["capability", "call", "echo", "--param", "msg=你好", "--key", key])
    assert refused.exit_code == 1 and "no grant" in refused.output and key not in refused.output

    ok("grant", "request", "--consumer", "grid-app", "--capability", "echo", "--per-minute", "2")
    grant_id = json.loads(ok("grant", "list", "--consumer", "grid-app", "--format", "json"))[0]["id"]
    wrong = runner.invoke(app, ["grant", "approve", grant_id, "--dept", "urban"])
    assert wrong.exit_code == 1 and "owning department" in wrong.output
    ok("grant", "approve", grant_id, "--dept", "bigdata")

    answer = json.loads(ok("capability", "call", "echo", "--param", "msg=你好", "--param", "n=3",
                           env={"URBANBRAIN_API_KEY": key}))
    assert answer["data"] == {"echo": {"msg": "你好", "n": 3}}
    ok("capability", "call", "echo", "--key", key)
    over = runner.invoke(app, ["capability", "call", "echo", "--key", key])
    assert over.exit_code == 1 and "quota exceeded" in over.output

    key_id = json.loads(ok("key", "list", "--consumer", "grid-app", "--format", "json"))[0]["id"]
    ok("key", "revoke", key_id)
    revoked = runner.invoke(app, ["capability", "call", "echo", "--key", key])
    assert revoked.exit_code == 1 and "revoked" in revoked.output


def test_publish_a_spec_file_as_a_draft_then_approve(tmp_path: Path) -> None:
    ok("dept", "add", "Data Resources Bureau", "--code", "bigdata")
    spec = {"name": "echo_copy", "owner": "bigdata", "kind": "builtin", "category": "utility",
            "title_en": "Echo copy", "implementation": {"builtin": "echo"}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert "draft" in ok("capability", "publish", "--file", str(path))
    drafts = json.loads(ok("capability", "list", "--status", "draft", "--format", "json"))
    assert [c["name"] for c in drafts] == ["echo_copy"]
    ok("capability", "approve", "echo_copy", "--dept", "bigdata")
    assert json.loads(ok("capability", "show", "echo_copy", "--format", "json"))[0]["status"] == "published"
    bad = runner.invoke(app, ["capability", "publish"])
    assert bad.exit_code == 1


def test_a_fresh_city_gets_every_builtin_and_owners_take_them_over_when_they_exist(tmp_path: Path) -> None:
    """On an install without the demo's departments the data bureau owns the built-ins, said so, until
    the department a built-in names is added and the built-ins are published again."""
    out = ok("capability", "publish", "--builtins")
    assert "skipped" not in out and "no department 'resources' yet" in out
    owners = {c["name"]: c["owner"] for c in json.loads(ok("capability", "list", "--format", "json"))}
    assert set(BUILTINS.names()) <= set(owners)
    assert owners["address_standardise"] == "bigdata" and owners["validate_id_number"] == "bigdata"
    ok("dept", "add", "Natural Resources", "--code", "resources")
    out = ok("capability", "publish", "--builtins")
    assert "'resources'" not in out and "no department 'police' yet" in out
    owners = {c["name"]: c["owner"] for c in json.loads(ok("capability", "list", "--format", "json"))}
    assert owners["address_standardise"] == "resources" and owners["validate_id_number"] == "bigdata"
