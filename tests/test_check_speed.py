"""What the compiler's shortcuts for large policies (branch `check-speed`, issue 13) must
keep exact: `plan.with_targets` answering "no `with` here" from the rules' encoding
finds every target the walk over every node finds, and literals that share one input
reader still evaluate as OPA does."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engines import OpaEngine, PolicydiffEngine, normalize

from policydiff import ir, load_policy
from policydiff.compile import plan, resolve
from policydiff.frontend import rego
from policydiff.source import Source

ROOT = Path(__file__).resolve().parents[1]


def _walk_targets(rules) -> set:
    """The targets of every `with`, by visiting every node (what `with_targets` did)."""
    out: set = set()

    def walk(node) -> None:
        if isinstance(node, ir.With):
            out.update(node.targets)
        for f in getattr(node, "__struct_fields__", ()):
            x = getattr(node, f)
            for y in (x if isinstance(x, tuple) else (x,)):
                for z in (y if isinstance(y, tuple) else (y,)):
                    if isinstance(z, ir.Node):
                        walk(z)

    for r in rules:
        walk(r)
    return out


def _modules() -> list[tuple[str, str]]:
    out = [(str(f.relative_to(ROOT)), f.read_text(encoding="utf-8", errors="replace"))
           for base in ("policies", "tests", "examples") for f in sorted((ROOT / base).rglob("*.rego"))]
    for f in sorted((ROOT / "tests" / "fixtures" / "opa-cases" / "v1").glob("**/*.yaml")):
        for i, case in enumerate(yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]):
            for j, module in enumerate(case.get("modules") or []):
                out.append((f"{f.name}#{i}.{j}", module))
    return out


def test_with_targets_match_a_walk_of_every_node_over_the_corpus():
    with_some = without = 0
    for name, text in _modules():
        module, _ = rego.parse_collecting(Source(name="m.rego", text=text))
        if module is None:
            continue
        groups, _ = resolve.resolve([module])
        for g in groups.values():
            defs = getattr(g, "defs", None)
            if not defs:
                continue
            want = _walk_targets(defs)
            assert plan.with_targets(defs) == want, name
            with_some += bool(want)
            without += not want
    assert with_some > 20 and without > 1000  # both answers were exercised


@pytest.mark.parametrize("text", [
    # a string that spells the tag: escaped in the encoding, so no `with` is assumed
    'package p\nx := "\\"type\\":\\"with\\""\n',
    # `with` nested in a comprehension, in an else branch, under `not`, in `every`
    "package p\nf := 1 if false else := y if { y := [v | v := input.a with input.a as 2] }\n",
    "package p\nallow if { not input.x with input.x as false }\n",
    "package p\nallow if { every v in [1] { v == input.y with input.y as 1 } }\n",
    "package p\nallow if { x := 2 with data.q.r as 1 }\n",
])
def test_with_targets_match_the_walk_on_nested_and_disguised_withs(text):
    module = rego.parse(Source(name="w.rego", text=text))
    assert plan.with_targets(module.rules) == _walk_targets(module.rules)


SHARED = """package s
import rego.v1

default allow := false
allow if {
	input.subject.role == "admin"
	input.action == "read"
}
allow if {
	input.subject.role == "dev"
	input.action == "read"
	input.subject.team == input.resource.team
}
allow if {
	input.subject.role == "dev"
	input.action == input.subject.role
}
count_reads := n if n := count([a | some a in input.actions; a == input.action])
"""

INPUTS = [
    {"subject": {"role": "admin"}, "action": "read"},
    {"subject": {"role": "admin"}, "action": "write"},
    {"subject": {"role": "dev", "team": "t"}, "resource": {"team": "t"}, "action": "read"},
    {"subject": {"role": "dev", "team": "t"}, "resource": {"team": "u"}, "action": "read"},
    {"subject": {"role": "dev"}, "action": "dev"},
    {"subject": "dev", "action": ["read"]},
    {"subject": {"role": "dev", "team": {"a": [1]}}, "resource": {"team": {"a": [1]}}, "action": "read"},
    {"actions": ["read", "read", "x"], "action": "read"},
    {},
]


def test_literals_sharing_input_readers_decide_as_opa():
    """Every `input.a.b` reader is made once per path and shared by the literals (and
    the policies: two loads share them too); the decisions stay OPA's."""
    ours = PolicydiffEngine({"s.rego": SHARED})
    other = load_policy(SHARED.replace("package s", "package t"))
    opa = OpaEngine({"s.rego": SHARED})
    try:
        for request in INPUTS:
            for ref in ("data.s.allow", "data.s.count_reads"):
                assert ours.evaluate(ref, request) == opa.evaluate(ref, request), (ref, request)
            want = ours.evaluate("data.s.allow", request)
            assert normalize(other.evaluate(request, ref="data.t.allow")) == want, request
    finally:
        opa.close()
