"""Compile-time type errors: policydiff refuses a module exactly when real OPA does.

Every module below goes through OPA (which compiles and type-checks it eagerly, see
`engines.OpaEngine`) and through policydiff. When OPA refuses it, policydiff must
refuse it at load time with OPA's error code and a position; when OPA accepts it,
policydiff must accept it and give OPA's value for every rule. The hypothesis tests
then draw builtin calls with operands of every static type, and references into the
members of constant collections, and compare only the verdict, accept or refuse.
"""

from __future__ import annotations

import re

import opa_bindings
import pytest
from engines import UNDEFINED, EngineError, OpaEngine, PolicydiffEngine, Refused
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policydiff import PolicyError, load_policy, query
from policydiff.compile.builtins import BUILTINS
from policydiff.compile.types import OPA_BUILTINS, SIGNATURES


def _module(rules: str) -> dict[str, str]:
    return {"typ.rego": f"package typ\n\nimport rego.v1\n\n{rules}\n"}


def _opa_refusal(modules) -> tuple[str, int] | None:
    """The code and line OPA refuses `modules` with, or None when it compiles them."""
    try:
        OpaEngine(modules).close()
    except EngineError as e:
        found = re.search(r"typ\.rego:(\d+): (rego_\w+_error)\b", str(e))
        assert found, f"OPA refused without a rego_*_error code: {e}"
        return found.group(2), int(found.group(1))
    return None


def _ours(modules):
    """policydiff's engine, or the `Refused` it raised."""
    try:
        return PolicydiffEngine(modules)
    except Refused as e:
        return e


# Modules OPA refuses at compile time: policydiff used to load each of them.
ILL_TYPED = {
    "plus-strings": 'x := "a" + "b"',
    "count-number": "x := count(1)",
    "count-null": "x := count(null)",
    "startswith-number": 'x := startswith(1, "a")',
    "startswith-input-and-number": "x := startswith(input.x, 1)",
    "lower-extra-argument": "x := lower(input.x, 1)",
    "upper-of-lower-extra-argument": 'x := upper(lower("a"), 1)',
    "wrong-arity-compared": "x := count([1], 2) == 1",
    "user-function-wrong-arity-compared": "f(a) := a\ny := f(1, 2) == 1",
    "undefined-function": "x := f(1)",
    "undefined-dotted-function": "x := foo.bar(1)",
    "undefined-function-compared": "x := f(1) == 1",
    "plus-on-lower": 'x := lower("A") + 1',
    "sum-of-strings": 'x := sum(["a"])',
    "sum-of-object": 'x := sum({"a": 1})',
    "or-array-set": "x := [1] | {2}",
    "and-arrays": "x := [1] & [2]",
    "concat-numbers": 'x := concat(",", [1])',
    "concat-mixed-set": 'x := concat(",", {"a", 1})',
    "object-get-on-string": 'x := object.get("x", "a", "d")',
    "object-keys-of-array": "x := object.keys([1])",
    "union-of-arrays": "x := union({[1]})",
    "intersection-of-numbers": "x := intersection({1})",
    "sprintf-values-not-array": 'x := sprintf("%d", 1)',
    "minus-strings": 'x := "a" - "b"',
    "startswith-of-minus": 'x := startswith(1 - 1, "a")',
    "count-of-arithmetic": "x := count(input.x + 1)",
    "lower-of-comparison": "x := lower(1 == 1)",
    "lower-of-comprehension": "x := lower([y | y := input.ys[_]])",
    "startswith-of-object-comprehension": 'x := startswith({k: 1 | k := "a"}, "a")',
    "graph-with-number-edges": 'x := graph.reachable({"a": 1}, [])',
    "glob-number-delimiters": 'x := glob.match("a", [1], "b")',
    "unify-number-string": 'x if { 1 = "a" }',
    "output-argument-of-wrong-type": 'x if { count([1], "a") }',
    "local-variable-number": 'x if { y := 1; startswith(y, "a") }',
    "some-in-numbers": 'x if { some v in [1, 2]; startswith(v, "a") }',
    "some-in-keys-of-array": 'x if { some k, _ in ["a"]; startswith(k, "a") }',
    "negated-call": 'x if { not startswith(1, "a") }',
    "inside-a-function": 'f(a) := a + "b"',
    "iterate-a-string": 'x := [v | some v in "abc"]',
    "iterate-null": "x if { some _ in null }",
    "iterate-a-local-string": 'x if { y := "abc"; some _, _ in y }',
    "array-index-a-string": 'x := [1, 2, 3]["a"]',
    "array-index-out-of-range": "x := [1, 2, 3][5]",
    "array-index-negative": "x := [1, 2, 3][-1]",
    "array-index-written-as-float": "x := [1, 2, 3][1.0]",
    "object-missing-key": 'x := {"a": 1}[1]',
    "object-key-true-is-not-1": "x := {1: 1}[true]",
    "set-member-of-other-type": 'x := {1}["a"]',
    "inside-a-number": "x := [1, 2][1][0]",
    "member-of-object-literal": 'x := {"a": 1, "b": "x"}["b"] + 1',
    "member-of-split": 'x := split("a,b", ",")[0] + 1',
    "equality-as-body-literal": 'x if { count([1]) == "a" }',
    "equality-of-array-and-set": "x if { [1] == {1} }",
    "equality-of-positions": 'x if { [1, "a"] == split("a", ",") }',
    "equality-in-comprehension": 'x := [1 | 1 == "a"]',
    "rule-of-a-number": 'r := 1\nx if startswith(r, "a")',
    "default-rule-of-a-number": 'default r := 1\nx if startswith(r, "a")',
    "boolean-rule": "r if input.a\nx := r + 1",
    "partial-set-rule": 's contains 1\nx if startswith(s, "a")',
    "partial-object-rule-value": 'o[k] := "s" if some k in ["a"]\nx := o.a + 1',
    "function-result": 'f(_) := "a"\ny := f(true) + 1',
    "member-of-a-number-rule": "r := 1\nx := r.a",
    "partial-set-of-numbers-by-string": 's contains 1\nx if s["a"]',
    "member-of-a-set-is-its-key": 's contains input.x\nx := sort(s[0])',
    "array-of-mixed-types-through-a-rule": 'r := ["a", 1]\nx := concat(",", r)',
    "array-of-mixed-types-through-a-variable": 'x if { r := ["a", 1]; concat(",", r) }',
    "object-through-a-rule": 'r := {"a": [], "b": "x"}\nx := graph.reachable(r, [])',
    "missing-key-of-an-object-rule": 'r := {"a": 1}\nx := r[0]',
    "missing-index-of-an-array-variable": "x if { r := [1]; r[3] }",
    "missing-key-of-an-object-variable": 'x if { r := {"a": {"b": 1}}; r.a.c }',
    "array-destructuring": 'x if { [a, b] := [1, "x"]; a + b }',
    "object-destructuring": 'x if { y := {"a": "s"}; {"a": a} := y; a + 1 }',
    "destructuring-split": 'x if { [a, _] := split("a,b", ","); a + 1 }',
    "unification-both-ways": 'x if { [a, "s"] = [1, b]; a + b }',
    "some-in-destructuring": 'x if { some k, [a, b] in {"q": [1, "s"]}; a + b }',
    "object-of-ref-head-rules": 'r.a.b := "s"\nx := r.a + 1',
    "function-parameter-typed-by-use": 'f(a) := a + 1\nx := f("s")',
    "function-parameter-used-as-two-types": 'f(a) if { startswith(a, "x"); a + 1 }',
    "function-parameter-typed-by-equality": 'f(a) if { a == 1 }\nx if f("s")',
    "function-parameter-pattern": 'f([a, b]) if { a + b }\nx if f(1)',
    "function-parameter-constant": 'f(1) := "a"\nx := f("s")',
    "function-parameter-typed-by-a-function": 'f(a) if { lower(a) }\ng(b) if { f(b); b + 1 }',
    # references into members of collections whose type is known (`some … in`, `X[_]`, `X[k]`)
    "member-of-an-iterated-array": 'grants := {"a": [{"action": "r"}]}\nx if { some k, g in grants; g.action == input.action }',
    "missing-key-of-an-iterated-object": 'grants := {"a": {"action": "r"}}\nx if { some g in grants; g.actoin == input.a }',
    "key-no-member-has": 'x if { some g in [{"a": 1}, {"b": 1}]; g.c }',
    "key-into-a-string-member": 'x if { some g in [{"a": 1}, "s"]; g.c }',
    "index-beyond-every-member": 'x if { some g in [[1], [2, 3]]; g[2] }',
    "member-by-a-wildcard": 'r := [[1], [2, 3]]\nx if { g := r[_]; g.a }',
    "member-by-unification": 'x if { xs := [{"b": 1}]; xs[_] = v; v.d }',
    "member-of-a-member": 'x if { y := {"a": [1]}; some z in y; some w in z; w.q }',
    "member-in-a-comprehension-head": "x := [v.b | some v in [[1]]]",
    "member-in-an-object-comprehension": 'x := {k: v.z | some k, v in {"a": {"q": 1}}}',
    "member-of-a-rule-by-a-wildcard": 'r := [{"q": 1}]\nx if { r[_].z }',
    "member-of-a-rule-of-several-objects": 'r := {"a": 1} if input.a\nr := {"b": 1} if not input.a\nx if { r.c }',
    "member-of-a-rule-or-its-default": 'default r := {"d": 1}\nr := {"a": 1} if input.a\nx if { r.c }',
    "member-of-a-partial-set": 's contains {"a": 1}\nx if { some v in s; v.b }',
    "member-of-a-literal-holding-a-rule": 'r := {"a": 1}\nx if { some v in [r, {"c": 2}]; v.b }',
    "member-of-a-literal-holding-a-variable": 'x if { z := {"a": 1}; y := [[z]]; some w in y; some u in w; u.b }',
    "member-by-destructuring": 'x if { g := [{"b": 1}]; [v, w] := [g[0], 1]; v.d }',
    "members-of-a-rule-of-a-number-or-set": 'r := 0 if input.a\nr := {2} if not input.a\nx if { some v in r; product(v) }',
    "member-of-an-array-comprehension-head": 'x if { ys := [{"a": 1} | true]; some y in ys; y.b }',
    "index-into-an-array-comprehension": 'x if { ys := [{"a": 1} | true]; ys[5].b }',
    "member-of-an-object-comprehension-value": 'x if { ys := {k: {"q": k} | some k in ["a"]}; ys.z.w }',
    "member-of-a-rule-of-a-comprehension": 'r := [{"a": y} | some y in input.x]\nx if { some v in r; v.b }',
    "member-of-nested-comprehensions": 'x := [y | some y in [v | some v in [{"a": 1}]]; y.b]',
    "member-of-a-rule-given-by-a-variable": 'r := y if { y := {"a": 1} }\nx if { r.b }',
    "member-of-a-rule-of-literals-with-variables": 'r := {"a": x} if { x := 1 }\nr := {"b": 2} if input.q\ny if { r.c }',
    "key-variable-of-an-array": 'r := [[1]]\nx if { r[k]; startswith(k, "a") }',
    "key-variable-of-an-object": 'r := {"a": 1}\nx if { r[k]; k + 1 }',
    "key-variable-of-a-set": 'x if { s := {1}; s[k]; startswith(k, "a") }',
    "key-variable-bound-to-another-type": 'r := {"a": 1}\nx if { k := 1; r[k] }',
    "key-variable-then-compared": 'xs := [1]\nx if { some k; xs[k]; k == "a" }',
    "function-parameter-typed-by-a-key": 'xs := [1, 2]\nf(a) := xs[a]\nx := f("s")',
    "string-key-into-split": 'x if split("a", ",")["a"]',
    "negative-index-into-split": 'x if split("a", ",")[-1]',
    "float-index-into-split": 'x if split("a", ",")[1.0]',
    "index-beyond-int64": 'x if split("a", ",")[9223372036854775808]',
    "string-key-into-an-empty-array": 'x if { xs := []; xs["a"] }',
    "number-key-into-an-object-comprehension": 'x if { ys := {k: 1 | k := "a"}; ys[1] }',
    "member-of-an-array-comprehension": 'x if { ys := [y | y := split("a", ",")]; ys[0].a }',
    "number-key-into-a-partial-object": 'o[k] := "s" if some k in ["a"]\nx := o[1]',
    "key-into-a-rule-of-scalars": 'r := 1 if input.z\nr := "b" if input.b\nx := r.a',
    "iterate-a-rule-of-scalars": 'r := true if input.a\nr := 1 if not input.a\nx if { some v in r; v }',
    # operand types by position and by key (OPA's static array and object types)
    "time-array-positions-swapped": 'x := time.format(["UTC", 1])',
    "time-array-too-short": "x := time.date([1])",
    "time-array-through-a-variable": 'x if { t := [1, 2]; time.clock(t) }',
    "time-array-of-strings-from-a-comprehension": 'x := time.date([y | some y in ["a"]])',
    "marshal-option-of-the-wrong-type": 'x := json.marshal_with_options([], {"pretty": 1})',
    "marshal-options-of-values-no-key-takes": 'x := json.marshal_with_options([], {k: true | k := "a"})',
    "patch-operation-of-a-number": 'x := json.patch({}, [{"op": 1, "path": "/a"}])',
    # a pattern that cannot match the literal it is unified with binds nothing there
    "destructuring-a-shorter-array": "x if { [a, b] := [1] }",
    "destructuring-a-longer-array": "x if { [a] := [1, 2] }",
    "unifying-arrays-of-two-lengths": "x if { [a, b] = [1] }",
    "destructuring-wildcards": "x if { [_, _] := [1] }",
    "destructuring-an-object-of-other-keys": 'x if { {"a": a} := {"b": 1} }',
    "destructuring-an-object-of-more-keys": 'x if { {"a": a} := {"a": 1, "b": 2} }',
    "destructuring-nested-arrays": "x if { [a, [b, c]] := [1, [2]] }",
    "destructuring-nested-objects": 'x if { {"a": {"b": a}} := {"a": {"c": 1}} }',
    "destructuring-a-string": 'x if { [a, b] := "ab" }',
    "destructuring-a-set": "x if { [a, b] := {1, 2} }",
    "destructuring-an-object-as-array": 'x if { [a] := {"a": 1} }',
    "destructuring-an-object-comprehension": 'x if { {"a": a} := {"a": y | y := 1} }',
    "destructuring-in-a-comprehension": "x := [a | [a, b] := [1]]",
    "some-in-a-pattern-of-another-length": "x if { some [a, b] in [[1]]; a }",
    "some-in-a-pattern-of-other-keys": 'x if { some {"k": a} in [{"j": 1}]; a }',
    "some-key-value-in-a-pattern-of-another-length": 'x if { some k, [a] in {"x": [1, 2]}; a }',
    # keys the literals a function gives, or a partial set's members, lack
    "missing-key-of-a-function-result": 'f(x) := {"a": x}\ny := f(1).b',
    "index-beyond-a-function-result": "f(x) := [x]\ny := f(1)[3]",
    "key-no-definition-of-a-function-gives": 'f(x) := {"a": 1} if x\nf(x) := {"b": 1} if not x\ny := f(true).c',
    "missing-key-below-a-function-result": 'f(x) := {"a": {"b": 1}}\ny := f(1).a.c',
    "missing-key-of-a-function-result-variable": 'f(x) := {"a": x}\ny if { z := f(1); z.b }',
    "missing-key-of-a-function-of-a-function": 'g(x) := f(x)\nf(x) := {"a": 1}\ny := g(1).b',
    "missing-key-of-a-partial-set-member-by-key": 's contains {"a": 1}\ny if { s[v]; v.b }',
    "missing-key-of-a-partial-object-value": 'p[k] := {"a": 1} if some k in ["x"]\ny := p.x.b',
    "missing-key-of-an-iterated-partial-object-value": 'p[k] := {"a": 1} if some k in ["x"]\ny if { some v in p; v.b }',
    "index-beyond-a-partial-object-value": 'p[k] := [1] if some k in ["x"]\ny := p.x[2]',
    "key-no-partial-object-definition-gives": 'p[k] := {"a": 1} if some k in ["x"]\np[k] := {"b": 1} if some k in ["y"]\ny := p.x.c',
    "missing-key-of-a-nested-partial-object-value": 'p.q[k] := {"a": 1} if some k in ["x"]\ny := p.q.x.b',
    # a pattern the value's literal (through a variable, a rule, an iteration) cannot match
    "destructuring-a-shorter-array-variable": "x if { y := [1]; [a, b] := y }",
    "destructuring-a-longer-array-variable": "x if { y := [1, 2]; [a] := y }",
    "unifying-with-a-shorter-array-variable": "x if { y := [1]; [1, 2] = y }",
    "destructuring-an-array-rule": "r := [1]\nx if { [a, b] := r }",
    "destructuring-an-object-variable-of-other-keys": 'x if { y := {"a": 1, "b": 2}; {"a": a} := y }',
    "destructuring-a-string-variable": 'x if { y := "ab"; [a, b] := y }',
    "destructuring-a-set-variable": "x if { y := {1, 2}; [a, b] := y }",
    "destructuring-an-iterated-member": "x if { some y in [[1]]; [a, b] := y }",
    "destructuring-a-member-by-index": "x if { [a, b] := [[1]][0] }",
    "unifying-arrays-of-two-lengths-bound-later": "x if { [a, b] = [1]; a = 1; b = 2 }",
    "unifying-a-nested-array-of-another-length": "x if { [a, [1]] = [1, [2, 3]]; a }",
    "unifying-a-position-of-another-type": 'x if { [a, "s"] = [1, 2]; a }',
    "destructuring-a-nested-array-variable": 'x if { y := {"a": [1]}; {"a": [p, q]} := y; p }',
    # `:=` assigns to variables, in arrays and object values, nothing else
    "assign-to-a-number": "x if { 1 := 1 }",
    "assign-to-a-string-in-an-array": 'x if { [a, "s"] := [1, "s"] }',
    "assign-to-a-number-in-an-object-value": 'x if { {"a": 1} := {"a": 1} }',
    "assign-to-a-nested-number": "x if { [a, [1]] := [1, [2, 3]] }",
    "assign-to-a-reference": "x if { input.x := 1 }",
    "assign-to-a-call": "x if { f(1) := 1 }",
    "assign-to-a-set": "x if { {1, a} := {1, 2} }",
    "assign-to-a-comprehension": "x if { [y | y := 1] := [1] }",
    "assign-to-a-boolean": "x if { true := true }",
    "assign-to-input": "x if { input := 1 }",
    # OPA looks for deprecated builtins last: an unsafe variable is what it reports first
    "deprecated-call": "x := all([true])",
    "deprecated-call-of-an-unsafe-variable": "x := all(y)",
}

# Modules OPA accepts, several of which look ill-typed: policydiff must accept them and
# give OPA's values.
WELL_TYPED = {
    "time-array-of-three-for-format": 'x := time.format([0, "UTC", "2006"])',
    "time-array-from-a-comprehension-of-mixed-members": 'x := [1 | time.date([y | some y in [0, "UTC"]])]',
    "marshal-options-of-other-keys": 'x if { input.never; json.marshal_with_options([], {"pretty": true, "x": 1}) }',
    "plus-number-float": "x := 1 + 1.5",
    "string-less-than-number": 'x := "a" < 1',
    "count-string": 'x := count("abc")',
    "count-object": 'x := count({"a": 1})',
    "concat-set": 'x := concat(",", {"a"})',
    "concat-empty": 'x := concat(",", [])',
    "set-union": "x := {1} | {2}",
    "set-minus": "x := {1, 2} - {2}",
    "object-get-default": 'x := object.get({}, "a", 1)',
    "compare-count-with-string": 'x := count([1]) == "a"',
    "count-of-minus": "x := count({1} - {1})",
    "max-mixed": 'x := max([1, "a"])',
    "sum-set": "x := sum({1, 2})",
    "glob-null-delimiters": 'x := glob.match("a", null, "b")',
    "is-string-of-number": "x := is_string(1)",
    "type-name-of-set": "x := type_name(set())",
    "object-remove-array": 'x := object.remove({"a": 1, "b": 2}, ["a"])',
    "in-a-string": 'x := 1 in "abc"',
    "in-a-number": "x := 1 in 2",
    "lower-of-sprintf": 'x := lower(sprintf("%v", [1]))',
    "startswith-unknown": "x := startswith(input.a, input.b)",
    "some-in-mixed": 'x if { some v in ["a", 1]; startswith(v, "a") }',
    "comprehensions-own-variables": 'a := [y | y = 1]\nb := [y | y = "s"; startswith(y, "s")]',
    "every-over-numbers": 'x if { every v in [1] { is_number(v) } }',
    "unify-unknown": "x if { y := input.a; y = 1 }",
    "count-split": 'x := count(split("a,b", ",")) + 1',
    "array-index": "x := [1, 2, 3][1]",
    "array-index-unknown": 'x := [1, "a"][input.k] + 1',
    "nested-array-index": "x := [[1], 2][0][0]",
    "object-member": 'x := {"a": 1, "b": "x"}["a"] + 1',
    "object-member-unknown": 'x := {"a": 1, "b": "x"}[input.b]',
    "set-member": "x := {1}[1]",
    "object-key-written-as-float": 'x := {1: "a"}[1.0]',
    "set-member-written-as-float": "x := {1}[1.0]",
    "equality-of-sets-of-mixed-types": 'x if { {1} == {1, "a"} }',
    "equality-of-an-empty-array": "x if { [] == [1] }",
    "equality-not-standing-alone": 'x := 1 == "a"',
    "inequality-standing-alone": 'x if { 1 != "a" }',
    "set-with-a-computed-member": 'x if { input.go; concat(",", {"a", 1 + 1}) }',
    "rule-of-a-string": 'r := "a"\nx if startswith(r, "a")',
    "rule-of-several-types": 'r := 1 if input.z\nr := "b" if input.b\nx if startswith(r, "a")',
    "rule-of-input": 'r := input.a\nx if startswith(r, "a")',
    "function-of-several-types": 'f(x) := 1 if x\nf(x) := "a" if not x\ny := f(true) + 1',
    "partial-set-of-several-types": 's contains 1\ns contains "b"\nx if s["a"]',
    "partial-object-rule-value": 'o[k] := 1 if some k in ["a"]\nx := o.a + 1',
    "set-of-mixed-types-through-a-rule": 'r := {"a", 1}\nx := product(r) if input.go',
    "set-of-mixed-types-through-a-variable": 'x if { input.go; r := {"a", 1}; concat(",", r) }',
    "member-of-a-rule-of-several-objects": 'r := {"a": 1} if input.a\nr := {"b": 1} if not input.a\nx := r.b',
    "member-of-a-variable-bound-twice": 'x if { y = input.o; y = {"a": 1}; y.b }',
    "destructuring-unknown": 'x if { [a, b] := [1, input.x]; a + b }',
    "destructuring-input": "x if { [a, b] = input.p; a + 1 }",
    "function-parameter-read-by-reference": 'f(a) if { a.b == 1 }\nx if f(1)',
    "function-parameter-used-in-a-comprehension": 'f(a) if { [b | b := a + 1] }\nx := f("s") if input.go',
    "function-of-two-definitions": 'f(a) := a\nf(a) := b if { b := a + 1 }\nx := f("s") if input.go',
    "member-of-an-iterated-object": 'grants := {"a": {"action": "r"}}\nx if { some g in grants; g.action == input.b }',
    "key-some-member-has": 'x if { some g in [{"a": 1}, {"b": 1}]; g.b }',
    "member-of-unknown-type": 'x if { some g in [{"a": 1}, input.x]; g.c }',
    "member-with-unknown-members": 'x if { g := [{"b": 1}, {"c": input.x}]; some v in g; v.c.d }',
    "index-some-member-has": 'x if { some g in [[1], [2, 3]]; g[1] == 3 }',
    "array-or-object-member": 'x if { some v in [[1], {"a": 1}]; v.a; v[0] }',
    "member-by-an-index-variable": 'x if { g := [{"b": 1}, {"c": [1]}]; v := g[i]; v.c[i] }',
    "key-variable-of-unknown-type": 'x if { xs := {"a": 1}; k := input.b; xs[k] }',
    "key-variable-declared": 'x if { xs := {"a": 1}; some k; xs[k]; k == "a" }',
    "index-minus-zero": 'x := split("a,b", ",")[-0]',
    "index-into-an-empty-array": "x if { [][5] }",
    "any-string-key-of-an-object-comprehension": 'x if { ys := {k: 1 | k := "a"}; ys.b }',
    "member-of-a-rule-of-array-or-object": 'r := [1] if input.z\nr := {"a": 1} if input.b\nx := r.a',
    "member-of-a-rule-or-its-default-with-it": 'default r := {"c": 1}\nr := {"a": 1} if input.a\nx := r.c',
    "member-of-a-rule-of-literals-with-variables": 'r := {"a": x} if { x := 1 }\nr := {"b": 2} if input.q\ny := r.b',
    "member-of-a-literal-holding-a-rule-with-it": 'r := {"a": 1}\nx if { some v in [r, {"c": 2}]; v.c }',
    "members-of-a-rule-of-a-number-or-array": 'r := 0 if input.a\nr := [2] if not input.a\nx if { some v in r; v + 1 }',
    "member-of-an-array-comprehension-head-with-it": 'x if { ys := [{"a": 1} | true]; ys[5].a }',
    "member-of-a-rule-of-a-comprehension-with-it": 'r := [{"a": y} | some y in input.x]\nx if { some v in r; v.a.c }',
    "member-of-a-comprehension-of-unknowns": "x if { ys := [z | z := input.a]; ys[0][1] }",
    "member-of-a-partial-set-of-unknowns": 's contains {"a": 1}\ns contains input.x\nx if { some v in s; v.b }',
    "iterate-a-rule-of-a-scalar-or-array": 'r := true if input.a\nr := [1] if not input.a\nx if { some v in r; v }',
    "unknown-key-below-a-ref-head-rule": 'r.a.b := "s"\nx := r[1]',
    "every-variable-untyped": "x if { every v in [[1]] { v.b } }",
    "function-parameter-read-by-key": 'f(a) := a.b\nx := f([1])',
    "function-parameter-iterated": 'f(a) if { some v in a; v.b }\nx := f([1])',
    "member-of-a-data-document": "x if { v := data.foo; v[1].a }",
    "assign-by-a-number-key": "x if { {1: a} := {1: 2}; a }",
    "destructuring-an-array-rule-of-two-lengths": "r := [1] if input.a\nr := [1, 2] if not input.a\nx if { [a, b] := r }",
    "destructuring-an-unknown-variable": "x if { y := input.z; [a, b] := y; a + b }",
    "destructuring-an-array-comprehension-variable": "x if { y := [z | z := 1]; [a, b] := y; a + b }",
    "destructuring-an-object-comprehension-variable": 'x if { y := {k: 1 | k := "a"}; {"a": a} := y; a }',
    "destructuring-a-nested-array-variable-of-one-length": 'x if { y := {"a": [1]}; {"a": [p]} := y; p }',
    "destructuring-an-empty-array-variable": "x if { y := [[]]; [[a]] := y; a }",
    "destructuring-an-empty-object-variable": 'x if { y := {}; {"a": a} := y; a }',
    "key-some-definition-of-a-function-gives": 'f(x) := {"a": 1} if x\nf(x) := {"b": 1} if not x\ny := f(true).b',
    "key-of-a-function-default": 'f(x) := {"a": 1} if x\ndefault f(_) := {"c": 2}\ny := f(true).c',
    "key-of-a-function-of-the-input": "f(x) := input.q\nz := f(1).b",
    "key-of-a-partial-set-member-of-unknowns": 's contains {"a": 1}\ns contains input.x\ny if { s[v]; v.b }',
    "key-some-partial-object-definition-gives": 'p[k] := {"a": 1} if some k in ["x"]\np[k] := {"b": 1} if some k in ["y"]\ny := p.x.b',
    "key-of-a-partial-object-of-the-input": 'p[k] := input.z if some k in ["x"]\ny := p.x.b',
    "key-of-a-partial-object-value-holding-its-key": 'p[k] := {"a": k} if some k in ["x"]\ny := p.x.a',
    "some-in-a-pattern-some-member-matches": 'x if { some {"k": a} in [{"k": 1}, {"j": 1}]; a }',
    "some-in-a-pattern-of-a-variable-of-two-lengths": "x if { z := [[1, 2], [3]]; some [a, b] in z; a }",
    "destructuring-an-array-comprehension": "x if { [a] := [y | y := 1] }",
    "destructuring-arrays-of-one-length": 'x if { [a, b] := [1, 2]; {"a": c} := {"a": a}; b + c }',
    "set-of-mixed-types-through-iteration": 'r := [{"a", 1}]\nx := product(r[_]) if input.go',
}


@pytest.mark.parametrize("case", sorted(ILL_TYPED))
def test_module_opa_refuses_is_refused_with_its_code(case):
    modules = _module(ILL_TYPED[case])
    refusal = _opa_refusal(modules)
    assert refusal is not None, "OPA accepts this module: move it to WELL_TYPED"
    code, line = refusal
    ours = _ours(modules)
    assert isinstance(ours, Refused), f"policydiff loads a module OPA refuses with {code}"
    assert ours.code == code
    with pytest.raises(PolicyError) as info:
        load_policy(modules["typ.rego"])
    assert info.value.span.line == line


@pytest.mark.parametrize("case", sorted(WELL_TYPED))
def test_module_opa_accepts_is_evaluated_as_opa(case):
    modules = _module(WELL_TYPED[case])
    opa = OpaEngine(modules)
    ours = _ours(modules)
    assert not isinstance(ours, Refused), f"policydiff refuses a module OPA accepts: {ours}"
    for inp in ({}, {"a": "abc", "b": "a", "x": 1}):
        assert ours.evaluate("data.typ", inp) == opa.evaluate("data.typ", inp)


def test_a_pattern_naming_input_is_refused_not_read_as_the_input():
    """OPA accepts `[input] := [1]`, declaring a local `input` that shadows the input
    document; policydiff does not model that shadowing and refuses it, naming it."""
    modules = _module("x if { [input] := [1]; input == 1 }")
    assert _opa_refusal(modules) is None
    ours = _ours(modules)
    assert isinstance(ours, Refused) and ours.code == "unsupported" and "`input`" in str(ours)


def test_diagnostic_underlines_the_call_and_names_the_types():
    with pytest.raises(PolicyError) as info:
        load_policy(_module('allow if {\n\tinput.a\n\tstartswith(input.b, 7)\n}')["typ.rego"])
    (d,) = info.value.diagnostics
    assert (d.code, d.span.line) == ("rego_type_error", 7)
    assert "`startswith`" in d.message
    assert "number" in d.help and "string" in d.help


def test_every_type_error_of_a_module_is_reported_in_order():
    with pytest.raises(PolicyError) as info:
        load_policy(_module('a := upper(1)\nb if { 1 = "a" }\nc := 1 + "s"')["typ.rego"])
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("rego_type_error", n) for n in (5, 6, 7)]


def test_an_undefined_function_is_reported_alone_as_opa_stops_there():
    """OPA looks for undefined functions before it checks types, and stops there."""
    modules = _module('a := upper(1)\nb if { 1 = "a" }\nc := g(1)')
    assert _opa_refusal(modules) == ("rego_type_error", 7)
    with pytest.raises(PolicyError) as info:
        load_policy(modules["typ.rego"])
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("rego_type_error", 7)]


def test_queries_are_checked_but_keep_equality_a_comparison():
    """OPA checks a query's types too, but rewrites no `a == b` in it into `a = b`."""
    opa = opa_bindings.OpaEngine()
    for text in ('startswith(1, "a")', 'x := [1, 2]["a"]', "some x in 7"):
        with pytest.raises(opa_bindings.OpaError, match="rego_type_error"):
            opa.eval_query(text)
        with pytest.raises(PolicyError) as info:
            query([], text)
        assert info.value.code == "rego_type_error"
    opa.eval_query("true == 1")  # accepted: a comparison, false
    assert query([], "true == 1") == []
    opa.close()


def test_key_written_with_an_exponent_is_read_as_written_or_refused():
    """OPA finds `xs[1.0]` but not `xs[1e0]` at run time, as the number's text says; in
    a collection its type checker knows, such a key follows rules of its own and is
    refused as unsupported rather than answered differently."""
    inp = {"xs": [1, 2, 3]}
    written = {"1.0": 2, "1e0": UNDEFINED}
    for key, value in written.items():
        modules = _module(f"x := input.xs[{key}]")
        assert OpaEngine(modules).evaluate("data.typ.x", inp) == value
        assert _ours(modules).evaluate("data.typ.x", inp) == value
    modules = _module("x := {1: 2}[1e0]")
    with pytest.raises(EngineError, match="rego_type_error"):
        OpaEngine(modules)
    ours = _ours(modules)
    assert isinstance(ours, Refused) and ours.code == "unsupported"


def test_opa_builtin_names_are_opa_s():
    """Every name the table calls an OPA builtin is one OPA knows (a wrong entry would
    turn an undefined function into `unsupported`), and every supported one is in it.
    Called with seven arguments, each is a type error in OPA, never an undefined
    function (OPA looks for those first, and stops there)."""
    assert set(BUILTINS) <= OPA_BUILTINS
    assert set(BUILTINS) <= set(SIGNATURES)
    names = sorted(OPA_BUILTINS - {"print"})  # print takes any number of arguments
    for i in range(0, len(names), 8):  # OPA reports at most ten errors at once
        batch = names[i:i + 8]
        with pytest.raises(EngineError) as info:
            OpaEngine(_module("\n".join(f"p{j} if {n}(1, 2, 3, 4, 5, 6, 7)" for j, n in enumerate(batch))))
        assert "undefined function" not in str(info.value), batch
    with pytest.raises(EngineError, match="undefined function"):  # the control: OPA would say so
        OpaEngine(_module("p if abs(1, 2, 3, 4, 5, 6, 7)\nq if not.a.builtin(1)"))


# ---------------------------------------------------------------- random builtin calls

OPERANDS = [
    "1", "1.5", '"a"', "true", "null", "[]", "[1]", '["a"]', '[1, "a"]', "set()", "{1}", '{"a"}',
    '{"a", 1}', "{{1}}", "{}", '{"a": 1}', '{"a": ["b"]}', "input.x", "input.xs[_]",
    "1 + 1", '{"a"} - {"b"}', 'lower("A")', '[y | y := input.ys[_]]', '{y | y := 1}',
    'count("a")', 'split("a", ",")', 'object.get({}, "a", 1)', "{1} | {2}", "1 == 1",
    '[1, "a"][1]', '{"a": 1}["a"]', '{"a": [1]}.a', '{"a": 1}["b"]', "[1][2]", '{"a"}["a"]',
    'split("a", ",")[0]', "[[1]][0][0]",
    # of the types OPA declares by position and by key (time.*, json.marshal_with_options, json.patch)
    '["a", 1]', '[1, "a", "b"]', '{"pretty": 1}', '{"indent": "a", "b": 1}', '[{"op": "add", "path": 1}]',
]


@st.composite
def calls(draw) -> str:
    """A call of a builtin on operands of any static type, beside helper rules and
    functions whose values are operands too (so their inferred types, and the types
    of a function's parameters, are exercised)."""
    supported = {n: s for n, s in SIGNATURES.items() if n in BUILTINS}  # the others are refused first
    unary = sorted(n for n, (params, _) in supported.items() if len(params) == 1)
    helpers = [f"r := {draw(st.sampled_from(OPERANDS))}", f"s contains {draw(st.sampled_from(OPERANDS))}",
               f"f(_) := {draw(st.sampled_from(OPERANDS))}", f"g(p) := {draw(st.sampled_from(unary))}(p)"]
    operands = st.sampled_from(OPERANDS + ["r", "s", "f(1)", "r[0]", "y", "z", "g(1)", 'g("a")', "g([1])"])
    name = draw(st.sampled_from(sorted(supported)))
    arity = len(SIGNATURES[name][0]) + draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
    args = ", ".join(draw(st.lists(operands, min_size=max(arity, 0), max_size=max(arity, 0))))
    call = f"{name}({args})"
    # local variables: `y` bound by `:=` or `=`, `z` by iteration (of a scalar: an error too);
    # where no body binds them, they are unsafe, in OPA as in policydiff
    y, z = draw(st.sampled_from(OPERANDS)), draw(st.sampled_from(OPERANDS))
    locals_ = f"y {draw(st.sampled_from([':=', '=']))} {y}; some z in {z}; "
    rule = draw(st.sampled_from([f"x := {call}", f"x if {{ {call} }}", f"x if {{ not {call} }}",
                                 f"x if {{ {locals_}{call} }}", f"x := [1 | {locals_}{call}]"]))
    return "\n".join(helpers + [rule])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=calls())
def test_random_builtin_calls_are_refused_exactly_when_opa_refuses(rule):
    _assert_same_verdict(rule, also=())


def _assert_same_verdict(rule: str, also: tuple[str, ...]) -> None:
    """policydiff refuses the module exactly when OPA does, with OPA's code (or one of
    `also`); where OPA accepts, it may still decline something outside its subset as
    `unsupported`, never for a type."""
    modules = _module(rule)
    refusal = _opa_refusal(modules)
    ours = _ours(modules)
    event(f"OPA refuses with {refusal[0]}" if refusal else "OPA accepts")
    if refusal is None:
        assert not isinstance(ours, Refused) or ours.code == "unsupported", f"OPA accepts: {ours}"
    else:
        assert isinstance(ours, Refused), f"policydiff loads what OPA refuses with {refusal[0]}"
        assert ours.code in (refusal[0], *also)


# ------------------------------------------- random references into members of constants

_SCALAR_TEXTS = ["1", '"a"', "true", "null", "0", "2"]
_KEYS = ['"a"', '"b"', "0", "1", "2", "-1", "1.0", "true", "null", "_", "k", "input.k"]


@st.composite
def _constants(draw, depth: int) -> str:
    """A constant: scalars, and arrays, objects and sets of constants (sets of scalars)."""
    kind = draw(st.sampled_from(["scalar", "array", "object", "set", "array", "object"] if depth else ["scalar"]))
    if kind == "scalar":
        return draw(st.sampled_from(_SCALAR_TEXTS))
    if kind == "set":
        return "{" + ", ".join(draw(st.lists(st.sampled_from(_SCALAR_TEXTS), min_size=1, max_size=3))) + "}"
    items = draw(st.lists(_constants(depth - 1), max_size=3))
    if kind == "array":
        return "[" + ", ".join(items) + "]"
    keys = draw(st.lists(st.sampled_from(['"a"', '"b"', "1", "0"]), unique=True,
                         min_size=len(items), max_size=len(items)))
    return "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, items)) + "}"


@st.composite
def member_references(draw) -> str:
    """A reference into a member of a constant collection (or of one holding a variable
    or rule `y` that holds a constant), which a rule or a local variable holds, reached
    by each form of iteration and used as an operand."""
    value = draw(_constants(3))
    other = draw(_constants(2))  # held by a variable that the collection holds
    value = draw(st.sampled_from([value, value, f"[y, {value}]", '{"a": y, "b": [y]}']))
    path = "".join(f"[{draw(st.sampled_from(_KEYS))}]" for _ in range(draw(st.integers(0, 2))))
    bind = draw(st.sampled_from(["some v in xs", "some j, v in xs", "v := xs[_]", "v := xs[i]",
                                 "xs[_] = v", "v := xs"]))
    use = draw(st.sampled_from([f"v{path}", f"count(v{path})", f"product(v{path})", f"v{path} + 1",
                                f'concat(",", v{path})', f"[w | w := v{path}]"]))
    if draw(st.booleans()):
        return f"y := {other}\nxs := {value}\nx if {{ {bind}; {use} }}"
    return f"x if {{ y := {other}; xs := {value}; {bind}; {use} }}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=member_references())
def test_references_into_members_of_constants_are_refused_exactly_when_opa_refuses(rule):
    """Where every collection is a literal, policydiff knows each member's keys as OPA's
    checker does, so the verdicts agree both ways."""
    _assert_same_verdict(rule, also=("unsupported",))  # e.g. a set of both 1 and true


_LEAVES = st.sampled_from(["1", '"s"', "true", "a", "b", "_"])
_SHAPES = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(['"k"', '"j"']), inner), max_size=2, unique_by=lambda p: p[0]).map(
        lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
    max_leaves=5,
)
_VALUES = st.recursive(
    st.sampled_from(["1", '"s"', "true", "input.x", '{"q"}']),
    lambda inner: st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
    | st.lists(st.tuples(st.sampled_from(['"k"', '"j"']), inner), max_size=2, unique_by=lambda p: p[0]).map(
        lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
    max_leaves=5,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_SHAPES, value=_VALUES, how=st.sampled_from(["direct", "variable", "rule", "iterated"]),
       op=st.sampled_from([":=", "="]))
def test_destructuring_is_refused_exactly_when_opa_refuses(pattern, value, how, op):
    """A pattern unified with a value written directly, through a variable, a rule or
    an iteration: policydiff refuses with OPA's code, or accepts, as OPA does."""
    if "a" not in pattern and "b" not in pattern and "_" not in pattern:
        pattern = f"[{pattern}, a]"
        value = f"[{value}, 1]"
    rhs = {"direct": value, "variable": "y", "rule": "r", "iterated": "y"}[how]
    setup = {"direct": "", "variable": f"y := {value}; ", "rule": "", "iterated": f"some y in [{value}]; "}[how]
    rules = f"r := {value}\n" if how == "rule" else ""
    uses = "; ".join(v for v in ("a", "b") if v in pattern.replace('"', " ").split() or f"{v}]" in pattern
                     or f"{v}," in pattern or f"{v}}}" in pattern)
    rules += f"x if {{ {setup}{pattern} {op} {rhs}{'; ' + uses if uses else ''} }}"
    modules = _module(rules)
    theirs = _opa_refusal(modules)
    ours = _ours(modules)
    event(f"opa {theirs[0] if theirs else 'accepts'}")
    if theirs is None:
        assert not isinstance(ours, Refused) or ours.code == "unsupported", f"{rules}\n{ours}"
    else:
        assert isinstance(ours, Refused) and ours.code == theirs[0], f"{rules}\nopa: {theirs}\nours: {ours}"
