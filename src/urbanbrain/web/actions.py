"""Which authorisation rule each state-changing route reaches, and the generated governance table.

`ROUTE_ACTIONS` maps every non-GET route of the app — the API's (from its OpenAPI document) and the
console's forms (which are left out of that document) — to the action in
`urbanbrain.govern.authz.RULES` its service function checks, or to `None` with the reason it changes
nothing governed (`NOT_GOVERNED`). tests/govern/test_authz_table.py fails when a route is missing here,
when an action is not in RULES, and when docs/governance.md is not what `python -m
urbanbrain.web.actions --write` makes of both tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

from urbanbrain.govern.authz import rules_markdown

# (method, path) -> action. Sorted by path, then method.
ROUTE_ACTIONS: dict[tuple[str, str], str | None] = {
    ("POST", "/api/capabilities"): "capability.register",
    ("POST", "/api/capabilities/builtins"): "capability.publish_builtins",
    ("POST", "/api/capabilities/lookups"): "capability.register",
    ("POST", "/api/capabilities/{name}/approve"): "capability.approve",
    ("POST", "/api/capabilities/{name}/deprecate"): "capability.deprecate",
    ("POST", "/api/consumers"): "consumer.add",
    ("POST", "/api/consumers/{name}/keys"): "key.create",
    ("PUT", "/api/datasets/{name}/labels"): "classification.label",
    ("POST", "/api/datasets/{name}/suggestions/{suggestion}/publish"): "capability.publish_suggestion",
    ("POST", "/api/departments"): "department.create",
    ("POST", "/api/grants"): "capability_grant.request",
    ("POST", "/api/grants/{grant_id}/approve"): "capability_grant.approve",
    ("POST", "/api/grants/{grant_id}/refuse"): "capability_grant.refuse",
    ("POST", "/api/indicators"): "indicator.define",
    ("DELETE", "/api/indicators/{name}"): "indicator.delete",
    ("POST", "/api/indicators/{name}/compute"): "indicator.compute",
    ("PUT", "/api/ioc/screens/{name}"): "ioc.configure",
    ("POST", "/api/keys/{key_id}/revoke"): "key.revoke",
    ("POST", "/api/sql"): None,
    ("POST", "/api/systems"): "system.add",
    ("PATCH", "/api/systems/{name}"): "system.update",
    ("POST", "/api/systems/{name}/discover"): "system.discover",
    ("PATCH", "/api/systems/{name}/objects/{object_name}"): "system.configure_object",
    ("POST", "/api/systems/{name}/sync"): "sync.run",
    ("POST", "/api/systems/{name}/test"): "system.test",
    ("POST", "/api/alerts/{alert_id}/ack"): "alert.acknowledge",
    ("POST", "/api/alerts/{alert_id}/clear"): "alert.clear",
    ("POST", "/api/cases"): "case.create",
    ("POST", "/api/cases/{case_id}/feedback"): "case.feedback",
    ("POST", "/api/cases/{case_id}/{action}"): "case.{action}",
    ("PUT", "/api/dispatch-rules"): "dispatch_rule.set",
    ("POST", "/api/feeds"): "feed.create",
    ("DELETE", "/api/feeds/{name}"): "feed.delete",
    ("POST", "/api/feeds/{name}"): None,
    ("POST", "/api/rules"): "rule.create",
    ("DELETE", "/api/rules/{name}"): "rule.delete",
    ("PUT", "/api/sla-policies"): "sla.set",
    ("POST", "/alerts/{alert_id}/ack"): "alert.acknowledge",
    ("POST", "/alerts/{alert_id}/clear"): "alert.clear",
    ("POST", "/capabilities/{name}/try"): None,
    ("POST", "/cases/{case_id}/feedback"): "case.feedback",
    ("POST", "/cases/{case_id}/{action}"): "case.{action}",
    ("POST", "/consumers"): "consumer.add",
    ("POST", "/consumers/{name}/grants"): "capability_grant.request",
    ("POST", "/consumers/{name}/keys"): "key.create",
    ("POST", "/consumers/{name}/keys/{key_id}/revoke"): "key.revoke",
    ("POST", "/datasets/{name}/fields/{column}/confirm"): "classification.field",
    ("POST", "/datasets/{name}/fields/{column}/level"): "classification.field",
    ("POST", "/datasets/{name}/labels"): "classification.label",
    ("POST", "/datasets/{name}/sharing-request"): "share.request",
    ("POST", "/datasets/{name}/suggestions/{suggestion}/publish"): "capability.publish_suggestion",
    ("POST", "/grants/{grant_id}/approve"): "capability_grant.approve",
    ("POST", "/grants/{grant_id}/refuse"): "capability_grant.refuse",
    ("POST", "/ioc/screens"): "ioc.configure",
    ("POST", "/ioc/screens/{name}"): "ioc.configure",
    ("POST", "/link/kinds"): "link.kind",
    ("POST", "/link/{kind}/decide"): "link.decide",
    ("POST", "/link/{kind}/mappings"): "link.mapping",
    ("POST", "/login"): None,
    ("POST", "/logout"): None,
    ("POST", "/open311/v2/requests.{fmt}"): None,
    ("POST", "/sharing/{grant_id}/approve"): "share.approve",
    ("POST", "/sharing/{grant_id}/refuse"): "share.refuse",
    ("POST", "/sql"): None,
    ("POST", "/systems/{name}/sync"): "sync.run",
}

NOT_GOVERNED: dict[tuple[str, str], str] = {
    ("POST", "/api/feeds/{name}"): "a device's push: checked against the feed's own key (X-Feed-Key), not roles",
    ("POST", "/api/sql"): "a read: every dataset it names goes through govern.policy (masks, row filters)",
    ("POST", "/capabilities/{name}/try"): "a gateway call with the typed API key; the gateway checks key and grant",
    ("POST", "/login"): "signs in: checks the password, creates a session (audited)",
    ("POST", "/logout"): "ends the caller's own session (audited)",
    ("POST", "/open311/v2/requests.{fmt}"): "a resident's report with a consumer's api_key; becomes a case as intake",
    ("POST", "/sql"): "the workbench's read, as /api/sql",
}

# Governed routes whose role matrix lives beside their package's own fixtures (feeds, cases and their
# clocks need more set-up than the shared authz city): route -> the test that calls it as a foreign
# department and expects 403. `case.{action}` means the path's `{action}` picks the rule (case.accept, ...).
MATRIX_ELSEWHERE: dict[tuple[str, str], str] = {
    ("PUT", "/api/ioc/screens/{name}"): "tests/operate/test_ioc.py",
    ("POST", "/ioc/screens"): "tests/operate/test_ioc_screens_console.py",
    ("POST", "/ioc/screens/{name}"): "tests/operate/test_ioc_screens_console.py",
    ("POST", "/api/alerts/{alert_id}/ack"): "tests/stream/test_api_governance.py",
    ("POST", "/api/alerts/{alert_id}/clear"): "tests/web/test_console_live.py",
    ("POST", "/alerts/{alert_id}/ack"): "tests/web/test_console_live.py",
    ("POST", "/alerts/{alert_id}/clear"): "tests/web/test_console_live.py",
    ("POST", "/api/cases"): "tests/operate/test_cases.py::test_authorisation_by_department",
    ("POST", "/api/cases/{case_id}/feedback"):
        "tests/operate/test_attachments.py::test_only_the_handling_department_may_report_back",
    ("POST", "/api/cases/{case_id}/{action}"): "tests/operate/test_cases.py::test_authorisation_by_department",
    ("PUT", "/api/dispatch-rules"): "tests/operate/test_api_stats.py",
    ("POST", "/api/feeds"): "tests/stream/test_api_governance.py",
    ("DELETE", "/api/feeds/{name}"): "tests/stream/test_api_governance.py",
    ("POST", "/api/rules"): "tests/stream/test_api_governance.py",
    ("DELETE", "/api/rules/{name}"): "tests/stream/test_api_governance.py",
    ("PUT", "/api/sla-policies"): "tests/operate/test_api_stats.py",
    ("POST", "/cases/{case_id}/feedback"):
        "tests/operate/test_attachments.py::test_only_the_handling_department_may_report_back",
    ("POST", "/cases/{case_id}/{action}"): "tests/operate/test_console_cases.py",
    ("POST", "/datasets/{name}/fields/{column}/level"): "tests/govern/test_console_roles.py",
    ("POST", "/datasets/{name}/sharing-request"): "tests/govern/test_console_roles.py",
}


def rules_of(action: str) -> list[str]:
    """The RULES an entry names: itself, or for `prefix.{param}` every rule under `prefix.`."""
    from urbanbrain.govern.authz import RULES

    if action.endswith("{action}"):
        prefix = action[: -len("{action}")]
        return [a for a in RULES if a.startswith(prefix)]
    return [action] if action in RULES else []


BEGIN, END = "<!-- authz:begin (generated by `python -m urbanbrain.web.actions --write`) -->", "<!-- authz:end -->"
DOC = Path(__file__).resolve().parents[3] / "docs" / "governance.md"


def routes_markdown() -> str:
    head = "| route | action |\n|---|---|\n"
    lines = []
    for (method, path), action in sorted(ROUTE_ACTIONS.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        what = f"`{action}`" if action else f"— ({NOT_GOVERNED[(method, path)]})"
        lines.append(f"| `{method} {path}` | {what} |")
    return head + "\n".join(lines) + "\n"


def generated_section() -> str:
    return (f"{BEGIN}\n\n### Actions × roles ({len(_rules())} actions)\n\n{rules_markdown()}\n"
            f"### Routes and console forms → actions\n\n{routes_markdown()}\n{END}")


def _rules() -> list[str]:
    from urbanbrain.govern.authz import RULES

    return list(RULES)


def render(text: str) -> str:
    """`text` (docs/governance.md) with its generated section replaced by the current tables."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise ValueError(f"{DOC} has no generated section ({BEGIN} ... {END})")
    return text[:start] + generated_section() + text[stop + len(END):]


def main(argv: list[str]) -> int:
    """`python -m urbanbrain.web.actions [--write]`: print the section, or rewrite docs/governance.md."""
    if "--write" in argv:
        DOC.write_text(render(DOC.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {DOC}")
    else:
        print(generated_section())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
