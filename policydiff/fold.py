"""Constant folding for the analysis: values the policies compute from constants alone.

The value-flow analysis (`policydiff.analysis`) knows the constants an input path is
compared with only when they are written in the policy. A set built by `-`, `&`,
`intersection`, `object.keys`, `split` of a constant, a comprehension over constants or
`graph.reachable` holds constants too, but which ones only evaluation tells. This room
asks the concrete evaluator: every rule that reads no input (`Program.input_reads`)
has one value, and so has every term whose variables are all bound to such values.
`Folder.rule` and `Folder.term` return that value, or `NOT_FOLDED` when the term may
read the input or the evaluator cannot give one value; the analysis then treats the
term as unknown (and a comparison of input with it as unproved).

Values come back JSON-like, except that a set stays a `FoldedSet` (its members are its
keys: `S[p]` binds `p` to them, where an array's keys are positions) and an object key
that is not a scalar stays the evaluator's value (an array, set or object).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from policydiff import ir
from policydiff.compile import UNDEFINED, Ctx, Query, thaw
from policydiff.compile.rule import CompiledRule
from policydiff.compile.values import Obj, sort_key
from policydiff.errors import InputError, PolicyError

NOT_FOLDED: Any = object()
RESULT = "__policydiff_fold"  # the query variable a folded term is bound to


class FoldedSet(list):
    """The members of a folded set, in OPA's order (a Python set cannot hold arrays or
    objects)."""


class Folder:
    """The input-independent values of one policy (`policydiff.Policy`)."""

    def __init__(self, policy: Any):
        self.program = policy.program
        self.policy = policy
        self._rules: dict[tuple[str, ...], Any] = {}

    def reads_no_input(self, path: tuple[str, ...]) -> bool:
        """Whether the rule or function at `data.<path>` reads no input."""
        r = self.program.rules.get(path)
        return isinstance(r, CompiledRule) and self.program.input_reads(r) == frozenset()

    def rule(self, path: tuple[str, ...]) -> Any:
        """The value of the rule at `data.<path>` (`UNDEFINED` when it has none), or
        `NOT_FOLDED` when it reads input or is a function."""
        if path not in self._rules:
            r = self.program.rules.get(path)
            value = NOT_FOLDED
            if self.reads_no_input(path) and r.kind != "function":
                ref = ir.Ref(head=ir.Var(name="data"), path=tuple(ir.Scalar(value=k) for k in path))
                try:
                    value = self.term((), (), (), ref)
                except InputError:  # a name no reference spells
                    value = NOT_FOLDED
            self._rules[path] = value
        return self._rules[path]

    def term(self, package: tuple[str, ...], imports: Sequence[ir.Import],
             locals_: Iterable[tuple[str, ir.Term]], term: ir.Term) -> Any:
        """The value of `term` in a rule of `package`, after the local definitions
        `locals_` (each `name := term`, all input-independent); `UNDEFINED` when the
        term has no value, `NOT_FOLDED` when the evaluator gives no single one."""
        body = tuple(ir.Assign(lhs=ir.Var(name=n), rhs=t) for n, t in locals_)
        body += (ir.Assign(lhs=ir.Var(name=RESULT), rhs=term),)
        try:
            q = Query(self.program, body, package=package, imports=tuple(imports))
            solutions = q.solutions(Ctx(UNDEFINED))
        except PolicyError:
            return NOT_FOLDED
        if not solutions:
            return UNDEFINED
        values = {repr(s[RESULT]) for s in solutions}
        if len(values) != 1 or _keys_merge(solutions[0][RESULT]):
            return NOT_FOLDED
        return plain(solutions[0][RESULT])


def _keys_merge(v: Any) -> bool:
    """Whether an object in `v` has keys that `plain` would merge: `false` and 0 (`true`
    and 1) are two keys in Rego, one in a Python dict."""
    t = type(v)
    if t is tuple or t is frozenset:
        return any(_keys_merge(x) for x in v)
    if t is Obj:
        scalars = [thaw(k) for k in v if type(k) not in (tuple, frozenset, Obj)]
        return len(set(scalars)) != len(scalars) or any(_keys_merge(k) or _keys_merge(x) for k, x in v.items())
    return False


def plain(v: Any) -> Any:
    """`thaw`, keeping sets apart from arrays and non-scalar object keys as they are."""
    t = type(v)
    if t is tuple:
        return [plain(x) for x in v]
    if t is frozenset:
        return FoldedSet(plain(x) for x in sorted(v, key=sort_key))
    if t is Obj:
        return {k if type(k) in (tuple, frozenset, Obj) else thaw(k): plain(x) for k, x in v.items()}
    return thaw(v)
