"""Real-world policies (tests/fixtures/real-policies): policydiff decides as OPA does.

Each policy is loaded with its data (SOURCES.md there says which goes with which) into
real OPA, rego-cpp and policydiff, and evaluated on every input of a small product of
the values it reads: known and unknown users, tenants, actions and types, in each shape
the policy accepts. policydiff must give OPA's value for every document compared;
rego-cpp must too wherever it answers (it has no ref heads, and it crashes on the OPAL
policy, so it is a second opinion here, not a gate).

Two of the files are Rego v0 (`allow { … }` without `if`). OPA 1.x parses Rego v1 only
and rejects them; policydiff, which accepts the v1 syntax, must reject them too with a
diagnostic, rather than read them some other way.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engines import EngineError, OpaEngine, PolicydiffEngine, Refused, RegopyEngine

REAL = Path(__file__).resolve().parent / "fixtures" / "real-policies"


def _data(name: str, at: str | None = None) -> Any:
    value = json.loads((REAL / name).read_text())
    return {at: value} if at else value


@dataclass(frozen=True)
class Case:
    modules: tuple[str, ...]  # file names under REAL; the first is the policy under test
    data: Any
    refs: tuple[str, ...]
    inputs: tuple[dict, ...]


def _tickets_inputs(tenant_as_object: bool) -> tuple[dict, ...]:
    users = ("alice", "bob", "ceasar", "dylan", "mallory")
    tenants = ("acmecorp", "hooli", "initech")
    actions = ("get", "list", "resolve", "create", "delete")
    shapes = (False, True) if tenant_as_object else (False,)
    return tuple(
        {"user": u, "tenant": {"name": t} if obj else t, "action": a}
        for u, t, a, obj in itertools.product(users, tenants, actions, shapes)
    )


def _filters_inputs() -> tuple[dict, ...]:
    out = []
    for user, tenant, ticket_tenant, assignee, resolved in itertools.product(
        ("alice", "bob", "ceasar", "mallory"),
        ("acmecorp", "hooli"),
        ("t-acme", "t-hooli"),
        (None, "ceasar", "bob"),
        (False, True),
    ):
        out.append(
            {
                "user": user,
                "tenant": {"id": "t-acme" if tenant == "acmecorp" else "t-hooli", "name": tenant},
                "tickets": {"tenant": ticket_tenant, "assignee": assignee, "resolved": resolved},
                "users": {"name": assignee},
            }
        )
    return tuple(out)


def _opal_inputs() -> tuple[dict, ...]:
    return tuple(
        {"user": u, "action": a, "type": t}
        for u, a, t in itertools.product(
            ("alice", "bob", "sunil", "eve", "mallory"),
            ("read", "adopt", "update", "delete"),
            ("dog", "cat", "finance", "bird"),
        )
    )


CASES = {
    "tickethub-tickets": Case(
        modules=("styra-demo-tickethub__tickets.rego",),
        data=_data("styra-demo-tickethub__roles-data.json", at="roles"),
        refs=("data.tickets.allow", "data.tickets.reason_user", "data.tickets.reason_admin",
              "data.tickets.response"),
        inputs=_tickets_inputs(tenant_as_object=True),
    ),
    "tickethub-tickets@85c76bf": Case(
        modules=("styra-demo-tickethub__tickets@85c76bf.rego",),
        data=_data("styra-demo-tickethub__roles-data.json", at="roles"),
        refs=("data.tickets.allow", "data.tickets.reason_user", "data.tickets.reason_admin"),
        inputs=_tickets_inputs(tenant_as_object=False),
    ),
    "tickethub-filters": Case(
        modules=("styra-demo-tickethub__filters.rego", "styra-demo-tickethub__tickets.rego"),
        data=_data("styra-demo-tickethub__roles-data.json", at="roles"),
        refs=("data.tickets.filters.include", "data.tickets.filters.resolver_include",
              "data.tickets.filters.masks"),
        inputs=_filters_inputs(),
    ),
    "opal-rbac": Case(
        modules=("opal-example-policy-repo__rbac.rego",),
        data=_data("opal-example-policy-repo__data.json"),
        refs=("data.app.rbac.allow", "data.app.rbac.user_is_admin", "data.app.rbac.user_is_granted"),
        inputs=_opal_inputs(),
    ),
}

V0_POLICIES = (
    "opal-example-policy-repo__rbac@263952b-v0.rego",
    "opal-example-policy-repo__single-topic-multi-tenant-rbac.rego",
)


def test_every_real_policy_is_covered():
    covered = {m for case in CASES.values() for m in case.modules} | set(V0_POLICIES)
    assert covered == {p.name for p in REAL.glob("*.rego")}


def _modules(case: Case) -> dict[str, str]:
    return {name: (REAL / name).read_text() for name in case.modules}


@pytest.mark.parametrize("name", sorted(CASES))
def test_policydiff_decides_as_opa_and_regopy(name):
    case = CASES[name]
    modules = _modules(case)
    opa = OpaEngine(modules, case.data)
    rego = RegopyEngine(modules, case.data)
    ours = PolicydiffEngine(modules, case.data)
    mismatches = []
    decided = set()
    for inp in case.inputs:
        for ref in case.refs:
            expected = opa.evaluate(ref, inp)
            decided.add((ref, json.dumps(expected, sort_keys=True, default=repr)))
            got = ours.evaluate(ref, inp)
            if got != expected:
                mismatches.append(f"policydiff: {ref} = {got!r}, OPA {expected!r}, input {json.dumps(inp)}")
            try:
                second = rego.evaluate(ref, inp)
            except EngineError:  # rego-cpp lacks ref heads and crashes on the OPAL policy
                continue
            if second != expected:
                mismatches.append(f"regopy: {ref} = {second!r}, OPA {expected!r}, input {json.dumps(inp)}")
    assert not mismatches, "\n".join(mismatches[:10])
    # The inputs reach more than one outcome for the decision (else they test little).
    assert len({v for ref, v in decided if ref == case.refs[0]}) > 1


@pytest.mark.parametrize("name", V0_POLICIES)
def test_v0_policies_are_rejected_as_opa_1_rejects_them(name):
    modules = {name: (REAL / name).read_text()}
    with pytest.raises(EngineError, match="rego_parse_error"):
        OpaEngine(modules)
    with pytest.raises(Refused) as refused:
        PolicydiffEngine(modules)
    assert refused.value.code == "rego_parse_error"
