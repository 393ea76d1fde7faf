"""Role tables lowered into the IR: the shape of what `lower` produces, and its meaning
checked against independent engines.

The lowered module is printed back as Rego (a printer that only knows the handful of IR
nodes role tables produce) and evaluated by real OPA and by regopy: against
policies/rbac_v1.rego on every request of a small tenancy, and against a plain Python
reading of the format (docs/roletables.md) on random tables.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
import yaml
from engines import OpaEngine, RegopyEngine, decision
from hypothesis import given, settings
from hypothesis import strategies as st

from policydiff import ir
from policydiff.frontend.roletable import closure, decode, load_module, load_table, lower
from policydiff.source import Source
from policydiff.tenancy import Enterprise, Resource, Tenancy, User, relation, request_input

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
V1_ACTIONS = ("project:read", "project:write", "project:delete", "project:export",
              "billing:read", "billing:write", "team:manage", "member:invite", "audit:read",
              "settings:write", "deploy:run")
V1_ROLES = ("admin", "team_admin", "developer", "viewer", "system", "guest")
ACTION = ir.Ref(head=ir.Var(name="input"), path=(ir.Scalar(value="action"),))


# ------------------------------------------------------------------ IR printed as Rego


def _term(t: ir.Term) -> str:
    match t:
        case ir.Scalar(value=v):
            return json.dumps(v)
        case ir.Var(name=name):
            return name
        case ir.Ref(head=head, path=path):
            out = _term(head)
            for p in path:
                ok = isinstance(p, ir.Scalar) and isinstance(p.value, str)
                out += f".{p.value}" if ok and re.fullmatch(r"[A-Za-z_]\w*", p.value) else f"[{_term(p)}]"
            return out
        case ir.Call(func="equal", args=(a, b)):
            return f"{_term(a)} == {_term(b)}"
        case ir.Call(func="neq", args=(a, b)):
            return f"{_term(a)} != {_term(b)}"
        case ir.Call(func="internal.member_2", args=(a, b)):
            return f"{_term(a)} in {_term(b)}"
        case ir.Call(func=func, args=args):
            return f"{func}({', '.join(_term(a) for a in args)})"
    raise TypeError(f"the test printer does not know {t!r}")


def to_rego(module: ir.Module) -> str:
    out = [f"package {'.'.join(module.package)}", "", "import rego.v1", ""]
    for rule in module.rules:
        assert rule.kind == "complete" and rule.value is not None and rule.else_ is None
        if rule.default:
            out.append(f"default {rule.name} := {_term(rule.value)}")
            continue
        body = []
        for lit in rule.body:
            assert isinstance(lit, ir.Expr) and not lit.negated
            body.append(f"\t{_term(lit.term)}")
        out.append(f"{rule.name} := {_term(rule.value)} if {{\n" + "\n".join(body) + "\n}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------ the tenancy


def _tenancy(roles, actions) -> Tenancy:
    """Two enterprises; per role a subject in no team, in one and in two; resources in
    every relation, including a null team abroad."""
    users = []
    for role in roles:
        for teams in ((), ("t1",), ("t1", "t2")):
            users.append(User(id=f"u-{role}-{len(teams)}", enterprise="e1", role=role, teams=teams))
    resources = (Resource(id="r-t1", kind="project", enterprise="e1", team="t1"),
                 Resource(id="r-t2", kind="project", enterprise="e1", team="t2"),
                 Resource(id="r-t3", kind="project", enterprise="e1", team="t3"),
                 Resource(id="r-e1", kind="enterprise", enterprise="e1", team=None),
                 Resource(id="r-x1", kind="project", enterprise="e2", team="x1"),
                 Resource(id="r-e2", kind="enterprise", enterprise="e2", team=None))
    return Tenancy(enterprises=(Enterprise(id="e1", teams=("t1", "t2", "t3")),
                                Enterprise(id="e2", teams=("x1",))),
                   users=tuple(users), resources=resources, actions=tuple(actions))


V1_TENANCY = _tenancy(V1_ROLES, V1_ACTIONS)


def test_every_relation_is_realised():
    seen = {relation(u, r) for u, _, r in V1_TENANCY.requests()}
    assert seen == {"own_team", "other_team", "enterprise", "other_enterprise"}


# ---------------------------------------------------------------- rbac_v1 equivalence


@pytest.fixture(scope="module")
def v1_engines():
    rego = {"rbac_v1.rego": (POLICIES / "rbac_v1.rego").read_text()}
    yaml_rego = {"rbac_v1_yaml.rego": to_rego(load_module(POLICIES / "rbac_v1.yaml"))}
    engines = {"opa": (OpaEngine(rego), OpaEngine(yaml_rego)),
               "regopy": (RegopyEngine(rego), RegopyEngine(yaml_rego))}
    yield engines
    for opa in engines["opa"]:
        opa.close()


@pytest.mark.parametrize("engine", ["opa", "regopy"])
def test_rbac_v1_yaml_decides_as_rbac_v1_rego(v1_engines, engine):
    from_rego, from_table = v1_engines[engine]
    allowed = differ = 0
    # regopy is slow; subjects in exactly one team still realise every relation
    requests = [(u, a, r) for u, a, r in V1_TENANCY.requests() if engine == "opa" or len(u.teams) == 1]
    for user, action, resource in requests:
        request = request_input(user, action, resource)
        want = decision(from_rego.evaluate("data.rbac.v1.allow", request))
        got = from_table.evaluate("data.rbac.v1.allow", request)
        assert got in (True, False), got  # the default rule makes the decision total
        if got != want:
            differ += 1
            print("differs:", json.dumps(request), "rego", want, "table", got)
        allowed += want
    assert differ == 0
    assert 0 < allowed < len(requests)  # the check is not vacuous


def test_rbac_v1_toml_is_the_yaml_table():
    from_yaml = load_module(POLICIES / "rbac_v1.yaml")
    from_toml = load_module(POLICIES / "rbac_v1.toml")
    assert from_toml == from_yaml  # spans never count in equality
    assert all(r.span.file.endswith("rbac_v1.toml") for r in from_toml.rules)


# -------------------------------------------------------------------------- structure


def test_lowered_module_shape_and_provenance():
    path = POLICIES / "rbac_v1.yaml"
    module = load_module(path)
    lines = path.read_text().splitlines()
    assert module.origin == "roletable"
    assert module.package == ("rbac", "v1")
    default, *rules = module.rules
    assert default.default and default.value == ir.Scalar(value=False)
    assert rules and all(r.name == "allow" and r.kind == "complete" for r in rules)
    assert all(r.span.file == str(path) for r in module.rules)
    roles = load_table(path).roles
    for rule in rules:
        assert rule.body[0].term.args[1].value in roles
        assert "actions" in lines[rule.span.line - 1]  # the rule stands at its grant
        for lit in rule.body[1:]:
            assert lit.span.line == rule.span.line
            if lit.term.func == "equal" and lit.term.args[0] == ACTION:
                assert lit.term.args[1].value in lines[lit.span.line - 1]


def test_inherited_grants_point_at_the_parent_grant():
    text = ("version: 1\npackage: t\nroles:\n"
            "  base:\n    grants:\n      - {actions: [a:read], scope: team}\n"
            "  child:\n    inherits: [base]\n")
    module = lower(Source(name="t.yaml", text=text))
    child = [r for r in module.rules if r.body and r.body[0].term.args[1].value == "child"]
    assert len(child) == 1 and child[0].span.line == 6
    assert module.rules[0].default


def test_closure_follows_chains_and_diamonds():
    text = ("version: 1\npackage: t\nroles:\n"
            "  a: {inherits: [b, c]}\n  b: {inherits: [d]}\n  c: {inherits: [d]}\n  d: {}\n")
    table = decode(Source(name="t.yaml", text=text))
    assert closure(table)["a"] == ("a", "b", "d", "c")
    assert closure(table)["d"] == ("d",)


def test_duplicate_grants_lower_once():
    text = ("version: 1\npackage: t\nroles:\n"
            "  v: {grants: [{actions: [x], scope: team}]}\n"
            "  d: {inherits: [v], grants: [{actions: [x], scope: team}]}\n")
    module = lower(Source(name="t.yaml", text=text))
    assert len(module.rules) == 1 + 2  # default, v's rule, d's rule (once, not twice)


def test_action_tests_equality_glob_and_star():
    text = ("version: 1\npackage: t\nroles:\n"
            "  r: {grants: [{actions: [a:b, 'a:*', '*'], scope: global}]}\n")
    _, exact, glob, star = lower(Source(name="t.yaml", text=text)).rules
    assert exact.body[1].term.func == "equal"
    assert glob.body[1].term == ir.Call(func="glob.match", args=(
        ir.Scalar(value="a:*"), ir.Scalar(value=None), ACTION))
    assert len(star.body) == 1  # the role test only: `*` alone is every action


# --------------------------------------------------------- random tables vs the format

_NAMES = ("r0", "r1", "r2", "r3")
_ACTIONS = ("project:read", "project:write", "billing:read", "ab:c")
_PATTERNS = st.sampled_from(_ACTIONS) | st.sampled_from(
    ("*", "project:*", "*:read", "*e*", "pr?ject:read", "?b:?", "billing:r*d", "zz:*"))


@st.composite
def tables(draw) -> dict:
    n = draw(st.integers(1, len(_NAMES)))
    roles = {}
    for i, name in enumerate(_NAMES[:n]):
        role: dict = {}
        parents = draw(st.lists(st.sampled_from(_NAMES[:i]), unique=True, max_size=2)) if i else []
        if parents:
            role["inherits"] = parents
        grants = draw(st.lists(st.fixed_dictionaries({
            "actions": st.lists(_PATTERNS, min_size=1, max_size=3),
            "scope": st.sampled_from(("team", "enterprise", "global"))}), max_size=2))
        if grants:
            role["grants"] = grants
        roles[name] = role
    return {"version": 1, "package": "gen.table", "roles": dict(reversed(list(roles.items())))}


def reading(table: dict, user: User, action: str, resource: Resource) -> bool:
    """docs/roletables.md, read directly: some role the subject holds through
    inheritance grants a pattern matching the action in a scope covering the relation."""
    covers = {"team": {"own_team"}, "enterprise": {"own_team", "other_team", "enterprise"},
              "global": {"own_team", "other_team", "enterprise", "other_enterprise"}}
    roles = table["roles"]
    held, todo = set(), [user.role] if user.role in roles else []
    while todo:
        r = todo.pop()
        if r not in held:
            held.add(r)
            todo.extend(roles[r].get("inherits", []))
    rel = relation(user, resource)
    return any(fnmatch.fnmatchcase(action, p) and rel in covers[g["scope"]]
               for r in held for g in roles[r].get("grants", []) for p in g["actions"])


RANDOM_TENANCY = _tenancy(_NAMES + ("nobody",), _ACTIONS + ("zz:top", "other"))


@settings(max_examples=25, deadline=None)
@given(tables())
def test_random_tables_mean_what_the_format_says(table):
    module = lower(Source(name="gen.yaml", text=yaml.safe_dump(table, sort_keys=False)))
    opa = OpaEngine({"gen.rego": to_rego(module)})
    try:
        for user, action, resource in RANDOM_TENANCY.requests():
            request = request_input(user, action, resource)
            got = opa.evaluate("data.gen.table.allow", request)
            assert got is reading(table, user, action, resource), (request, to_rego(module))
    finally:
        opa.close()


@settings(max_examples=3, deadline=None)
@given(tables())
def test_random_tables_agree_in_regopy(table):
    module = lower(Source(name="gen.yaml", text=yaml.safe_dump(table, sort_keys=False)))
    rego = RegopyEngine({"gen.rego": to_rego(module)})
    for user, action, resource in RANDOM_TENANCY.requests():
        got = rego.evaluate("data.gen.table.allow", request_input(user, action, resource))
        assert got is reading(table, user, action, resource)


# ------------------------------------------------------------------------------- TOML


def test_toml_table_with_arrays_of_tables_and_inline_grants():
    text = ('version = 1\npackage = "t.toml"\n\n[roles.viewer]\n'
            'grants = [{ actions = ["p:read"], scope = "team" }]\n\n'
            '[roles.dev]\ninherits = ["viewer"]\n\n[[roles.dev.grants]]\n'
            'actions = ["p:*"]\nscope = "enterprise"\n')
    module = lower(Source(name="t.toml", text=text))
    assert module.package == ("t", "toml") and module.origin == "roletable"
    lines = {(r.body[0].term.args[1].value, r.span.line) for r in module.rules if r.body}
    assert lines == {("viewer", 5), ("dev", 10), ("dev", 5)}


def test_the_examples_in_the_format_document_decode():
    doc = (ROOT / "docs" / "roletables.md").read_text()
    blocks = re.findall(r"```(yaml|toml)\n(.*?)```", doc, re.DOTALL)
    assert {kind for kind, _ in blocks} == {"yaml", "toml"}
    for kind, text in blocks:
        module = lower(Source(name=f"doc.{kind}", text=text))
        assert module.package == ("rbac", "v1") and len(module.rules) > 1
