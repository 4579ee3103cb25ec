"""The API keeps its contract under fuzzing: schemathesis against the app, in process.

Both OpenAPI documents -- the platform's `/openapi.json` and the gateway's `/capabilities/openapi.json`
-- are fuzzed operation by operation, as three callers: a platform admin, an analyst of a department
that owns none of the data (transport), and an application with an API key and approved grants for
every published capability. Every answer must be documented (status, content type, body schema and
headers), never a 5xx, and invalid input must be refused with a 4xx. The seed is fixed (`derandomize`),
so a failure found here is found again on every run.

Run size: `UB_CONTRACT_EXAMPLES` examples per operation and caller (default 8, about a minute for
both documents). To fuzz harder before a release, e.g.:

    UB_CONTRACT_EXAMPLES=200 .venv/bin/python -m pytest -q tests/web/test_api_contract.py

(or `make test PYTEST_ARGS="tests/web/test_api_contract.py"` with the variable exported).
New routes need nothing here: they are in the documents, so they are fuzzed too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance, unsupported_method

from tests.govern.city import build_city, home
from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.core.errors import AlreadyExistsError
from urbanbrain.govern import users
from urbanbrain.meta.departments import add_department
from urbanbrain.web.app import create_app

EXAMPLES = int(os.environ.get("UB_CONTRACT_EXAMPLES", "5"))
PASSWORD = "contract-test-Passw0rd!"
CALLERS = ("admin", "analyst", "app")


@dataclass
class ContractCity:
    root: Path
    headers: dict[str, dict[str, str]]


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32 reads and rewrites `Node._nodeid`, which pytest 9.2 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def contract_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractCity]:
    """The governed test city, a platform admin, a transport analyst and an application of transport
    holding an approved grant for every published built-in capability."""
    root = tmp_path_factory.mktemp("contract")
    with home(root / "ubhome"):
        build_city(root)
        with contextlib.suppress(AlreadyExistsError):
            add_department("Transport", "transport")
        users.add_user("root.admin", PASSWORD, roles=[("platform_admin", None)])
        users.add_user("ana.transport", PASSWORD, roles=[("analyst", "transport")])
        admin = users.create_token("root.admin").token
        analyst = users.create_token("ana.transport").token
        published = catalog.publish_builtins()["published"]
        consumers.add_consumer("grid-app", "transport")
        key = consumers.create_key("grid-app").key
        for name in published:
            grant = grants.request_grant("grid-app", name, per_minute=100_000, per_day=1_000_000)
            grants.approve_grant(grant.id, approver="contract-test", department=grant.owner)
    yield ContractCity(root, {"admin": {"Authorization": f"Bearer {admin}"},
                              "analyst": {"Authorization": f"Bearer {analyst}"},
                              "app": {"X-API-Key": key}})
    from urbanbrain.meta.db import dispose_engines

    dispose_engines()


def _schema(city: ContractCity, path: str, caller: str, *, deep: bool) -> Any:
    """The document at `path`, fuzzed as `caller`. `deep`: also the coverage phase, every boundary value
    of every field (the 9223372036854775808s) and every undeclared method, for the caller whose
    requests reach the services; the others get the examples and random fuzzing only."""
    app = create_app()
    schema = schemathesis.openapi.from_asgi(path, app, headers=city.headers["admin"])
    schema.config.update(headers=city.headers[caller])  # sent with every generated request
    schema.config.phases.update(phases=["examples", "coverage", "fuzzing"] if deep else ["examples", "fuzzing"])
    # boundary values that are valid: invalid ones are pydantic's 422, which random fuzzing checks anyway
    schema.config.phases.coverage.generation.modes = [GenerationMode.POSITIVE]
    schema.config.phases.coverage.unexpected_methods = {"trace"}
    # a body over the size limit is refused with 413 before anything reads it: as good a refusal as 400
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


@pytest.fixture(params=CALLERS)
def platform_api(request: pytest.FixtureRequest, contract_city: ContractCity) -> Iterator[Any]:
    with home(contract_city.root / "ubhome"):
        yield _schema(contract_city, "/openapi.json", request.param, deep=request.param == "admin")


@pytest.fixture(params=CALLERS)
def gateway_api(request: pytest.FixtureRequest, contract_city: ContractCity) -> Iterator[Any]:
    with home(contract_city.root / "ubhome"):
        yield _schema(contract_city, "/capabilities/openapi.json", request.param, deep=request.param == "app")


FUZZ = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
# Schema-valid but meaningless requests (SQL naming no dataset, a cron schedule that is not one, a
# capability of no known kind) are refused 400/422 by the services: no schema can say what they mean.
SEMANTIC = [positive_data_acceptance]
platform = schemathesis.pytest.from_fixture("platform_api")
gateway = schemathesis.pytest.from_fixture("gateway_api")


@platform.parametrize()
@FUZZ
def test_platform_api_keeps_its_contract(case: Any) -> None:
    signed_in = "Authorization" in (case.operation.schema.config.headers or {})
    # Without credentials every method is 401 before routing: a stranger does not learn which routes exist.
    case.call_and_validate(excluded_checks=SEMANTIC if signed_in else [*SEMANTIC, unsupported_method])


@gateway.parametrize()
@FUZZ
def test_gateway_keeps_its_contract(case: Any) -> None:
    case.call_and_validate(excluded_checks=SEMANTIC)


def test_the_harness_fails_on_a_crash() -> None:
    """Not vacuous: a route that crashes fails the run (the in-process client re-raises the crash), and
    a real client gets a 500 in the one error shape."""
    from fastapi import APIRouter
    from fastapi.testclient import TestClient
    from schemathesis.core.failures import FailureGroup

    app = create_app()
    router = APIRouter()

    @router.get("/api/boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("a bug")

    app.include_router(router)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with pytest.raises((FailureGroup, RuntimeError)):
        schema["/api/boom"]["GET"].Case().call_and_validate(excluded_checks=SEMANTIC)
    response = TestClient(app, raise_server_exceptions=False).get("/api/boom")
    assert response.status_code == 500 and response.json()["error"] == "InternalError"
