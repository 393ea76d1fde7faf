"""The common IR: what every frontend (Rego, role tables) lowers into.

Frozen, keyword-only msgspec Structs with explicit tags named after the grammar rules,
so IR dumps stay stable across renames. The IR has no behaviour: compilation and
evaluation live in `policydiff.compile`. Every node carries a `span`; spans compare
equal to each other, so positions never decide equality or hashing.

Consume the unions (`Term`, `Literal`) with `match` and `typing.assert_never`.
"""

from __future__ import annotations

from typing import Literal as Lit

import msgspec

from policydiff.source import NOWHERE, Span


class Node(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    span: Span = NOWHERE


# ---------------------------------------------------------------------------------- terms


class Scalar(Node, tag="scalar"):
    """A JSON scalar: string, number, boolean or null. A number not written as a plain
    integer keeps its `text` (`2.0`, `1e3`, `-0`), which OPA prints and computes from;
    `value` is then its nearest Python number."""

    value: str | int | float | bool | None
    text: str | None = None


class Var(Node, tag="var"):
    """A variable; `input` and `data` are the two root documents, `_` is a wildcard."""

    name: str


class Ref(Node, tag="ref"):
    """`head.a[b]…`: a head term followed by a path of keys; string keys from dots."""

    head: Term
    path: tuple[Term, ...]


class Array(Node, tag="array"):
    """`[a, b]`: an array literal."""

    items: tuple[Term, ...]


class Set(Node, tag="set"):
    """`{a, b}` or `set()`: a set literal."""

    items: tuple[Term, ...]


class Object(Node, tag="object"):
    """`{k: v}`: an object literal, pairs in source order."""

    items: tuple[tuple[Term, Term], ...]


class ArrayCompr(Node, tag="array_compr"):
    """`[term | body]`: the array of `term` for every solution of `body`."""

    term: Term
    body: tuple[Literal, ...]


class SetCompr(Node, tag="set_compr"):
    """`{term | body}`: the set of `term` for every solution of `body`."""

    term: Term
    body: tuple[Literal, ...]


class ObjectCompr(Node, tag="object_compr"):
    """`{key: value | body}`: the object of every solution of `body`."""

    key: Term
    value: Term
    body: tuple[Literal, ...]


class Call(Node, tag="call"):
    """A builtin or user function applied to arguments. Infix operators are calls with
    OPA's names: `equal`, `neq`, `lt`, `lte`, `gt`, `gte`, `plus`, `minus`, `mul`,
    `div`, `rem`, `and` (`&`), `or` (`|`), `internal.member_2` (`x in xs`) and
    `internal.member_3` (`k, v in xs`). `func` is the dotted name as written."""

    func: str
    args: tuple[Term, ...]


Term = Scalar | Var | Ref | Array | Set | Object | ArrayCompr | SetCompr | ObjectCompr | Call


# ------------------------------------------------------------------------------- literals


class Expr(Node, tag="expr"):
    """A body expression: true when `term` is defined and not `false`; `negated` is
    `not term`, true when `term` is undefined or `false`."""

    term: Term
    negated: bool = False


class Assign(Node, tag="assign"):
    """`lhs := rhs`: binds the fresh variables of `lhs` (a var or a destructuring
    array/object pattern) to the value of `rhs`."""

    lhs: Term
    rhs: Term


class Unify(Node, tag="unify"):
    """`lhs = rhs`: equality when both sides are ground, else binds unbound vars."""

    lhs: Term
    rhs: Term


class Some(Node, tag="some"):
    """`some x, y`: declares local variables."""

    vars: tuple[str, ...]


class SomeIn(Node, tag="some_in"):
    """`some v in coll` / `some k, v in coll`: one solution per member of `coll`."""

    key: Term | None
    value: Term
    collection: Term


class Every(Node, tag="every"):
    """`every k, v in domain { body }`: true when body holds for every member."""

    key: str | None
    value: str
    domain: Term
    body: tuple[Literal, ...]


class With(Node, tag="with"):
    """`literal with target as value, …`: the literal evaluated with `input`, a
    document below `data`, or a function or builtin replaced. Each target is a
    reference (`input.a`, `data.x`, `f`, `count`) whose path is written out."""

    literal: Literal
    targets: tuple[tuple[str, ...], ...]
    values: tuple[Term, ...]
    # per target: the full name of the function or builtin that replaces it, when the
    # value names one (`with count as f`); the value is then not evaluated
    replacements: tuple[str | None, ...] = ()
    where: tuple[Span, ...] = ()  # per target: the `with … as …` modifier


Literal = Expr | Assign | Unify | Some | SomeIn | Every | With


# ---------------------------------------------------------------------------------- rules


RuleKind = Lit["complete", "partial_set", "partial_object", "function"]


class Rule(Node, tag="rule"):
    """One rule of a module.

    `complete`: `name := value if body` (value `true` when omitted); `partial_set`:
    `name contains key if body`; `partial_object`: `name[key] := value if body`;
    `function`: `name(args) := value if body`. A rule written with a reference head
    (`a.b.c := v`) has the dotted `name` "a.b.c" and lives at `data.<package>.a.b.c`.
    `default` rules hold their value when
    no other rule of the same name is defined. `else_` is the next rule of an else
    chain, tried only when this one's body is undefined. `ref` is the rest of a
    general reference head after `name` (`roles[t][u] := true` has name "roles" and
    ref `(t, u)`): the rule puts its value (`complete`) or its keys (`partial_set`) at
    the path every solution of its body gives those terms.
    """

    kind: RuleKind
    name: str
    ref: tuple[Term, ...] = ()
    body: tuple[Literal, ...] = ()
    key: Term | None = None
    value: Term | None = None
    args: tuple[Term, ...] = ()
    default: bool = False
    else_: Rule | None = None


class Import(Node, tag="import"):
    """`import data.x as y` / `import input.z` / `import rego.v1`."""

    path: tuple[str, ...]
    alias: str | None = None


class Module(Node, tag="module"):
    """A parsed policy file: its package path (without `data`), imports and rules."""

    package: tuple[str, ...]
    imports: tuple[Import, ...] = ()
    rules: tuple[Rule, ...] = ()
    origin: str = "rego"  # "rego" or "roletable": which frontend produced it
    package_span: Span = NOWHERE  # of the `package` declaration, where OPA reports some module errors
