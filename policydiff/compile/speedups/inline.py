"""Inlining: a rule that only compares input paths with constants, tested in place.

`same_enterprise if input.subject.enterprise == input.resource.enterprise` is a test
a body asks for by name; asking for the rule's value costs a call, a cache lookup and
a frame for two reads and a comparison. A literal naming such a rule runs its tests
in place instead: the literal holds exactly when they all do. That is so for a rule
of one body and no `else` whose value is `true`, with no default or a `false` one, and
whose body is a conjunction of comparisons (`==`, `!=`, `<`, …, `in`) of constants and
input paths of constant keys, or of literals naming rules of the same kind. Such
tests never fail, so no error moves, and a rule that reaches itself is never inlined
(recursion is still reported: the literal's rule still depends on the inlined one).
"""

from __future__ import annotations

from typing import Any

from policydiff import ir
from policydiff.compile.values.build import NOT_LITERAL, literal

COMPARISONS = frozenset({"equal", "neq", "lt", "lte", "gt", "gte", "internal.member_2"})


class Inliner:
    """`inliner(t)`: for a literal term `t` naming such a rule in `tree` (the rules by
    package path), the rule and its tests; else None."""

    def __init__(self, tree: dict):
        self.tree = tree
        self._tests: dict[Any, tuple] = {}

    def __call__(self, t) -> tuple | None:
        r = self._rule_at(t)
        if r is None:
            return None
        tests = self._tests.get(r)
        if tests is None:
            self._tests[r] = ()  # while deciding: a rule reached again is not inlined
            tests = self._tests[r] = self._of(r)
        return (r, tests) if tests else None

    def _rule_at(self, t):
        if not (isinstance(t, ir.Ref) and isinstance(t.head, ir.Var) and t.head.name == "data"):
            return None
        node: Any = self.tree
        for k in t.path:
            if not (isinstance(k, ir.Scalar) and type(k.value) is str and isinstance(node, dict)):
                return None
            node = node.get(k.value)
        return None if node is None or isinstance(node, dict) else node

    def _of(self, r) -> tuple:
        g = r.group
        if r.kind != "complete" or len(g.defs) != 1:
            return ()
        (rule,) = g.defs
        if rule.else_ is not None or literal(rule.value) is not True or not rule.body:
            return ()
        if g.default is not None and literal(g.default.value) is not False:
            return ()
        for lit in rule.body:
            if not isinstance(lit, ir.Expr) or lit.negated:
                return ()
            t = lit.term
            if isinstance(t, ir.Call) and t.func in COMPARISONS and all(map(_plain_operand, t.args)):
                continue
            if self(t) is None:
                return ()
        return tuple(rule.body)


def _plain_operand(t) -> bool:
    """A constant, or a path of constant keys into the input."""
    if isinstance(t, ir.Ref):
        return isinstance(t.head, ir.Var) and t.head.name == "input" and \
            all(isinstance(k, ir.Scalar) and type(k.value) is str for k in t.path)
    return literal(t) is not NOT_LITERAL
