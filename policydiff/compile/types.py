"""Static types as OPA's type checker sees them, and the signatures of the builtins.

A type is a small tuple: `ANY` (nothing known), a scalar kind (`NULL`, `BOOLEAN`,
`NUMBER`, `STRING`), a collection with the types of its members (`("array", (t, …))`,
`("set", (t, …))`, `("object", ((k, v), …))`), or a union `("any", (t, …))`. A
collection's member types are all the types of its members: a literal `[1, "a"]` is
`("array", (NUMBER, STRING))`, and `[]` has none. A signature's operand type names one
member type, which every member must fit.

`fits(have, want)` is OPA's test for an operand: a union on either side fits when one
of its types fits, so a value of unknown or mixed type is never refused here.
`meets(a, b)` is the test for a unification, `loose(t)` the type a value keeps once
bound to a variable or a rule.
`OPA_BUILTINS` names every builtin OPA 1.20 defines, so that a call of any other name
is an undefined function, as OPA reports it, and not merely an unsupported builtin.
"""

from __future__ import annotations

from typing import Any

from policydiff.compile.builtins.opa_builtins import OPA_ARITY, OPA_SIGNATURES
from policydiff.compile.values import Num

Type = tuple

ANY: Type = ("any", ())
NULL: Type = ("null",)
BOOLEAN: Type = ("boolean",)
NUMBER: Type = ("number",)
STRING: Type = ("string",)


def array(*members: Type) -> Type:
    return ("array", members)


def set_(*members: Type) -> Type:
    return ("set", members)


def object_(*pairs: tuple[Type, Type]) -> Type:
    return ("object", pairs)


def union(*options: Type) -> Type:
    """The type of a value that is one of `options`; `ANY` when one of them is."""
    out: list[Type] = []
    for t in options:
        if t == ANY:
            return ANY
        for u in (t[1] if t[0] == "any" else (t,)):
            if u not in out:
                out.append(u)
    return out[0] if len(out) == 1 else ("any", tuple(out))


ARRAY, SET, OBJECT = array(ANY), set_(ANY), object_((ANY, ANY))


def fits(have: Type, want: Type) -> bool:
    """False only when no value of type `have` can be an operand of type `want`."""
    if have == ANY or want == ANY:
        return True
    if have[0] == "any":
        return any(fits(h, want) for h in have[1])
    if want[0] == "any":
        return any(fits(have, w) for w in want[1])
    if have[0] != want[0]:
        return False
    if have[0] in ("array", "set"):
        return all(fits(h, want[1][0]) for h in have[1])
    if have[0] == "object":
        (wk, wv), = want[1]
        return all(fits(k, wk) and fits(v, wv) for k, v in have[1])
    return True


def meets(a: Type, b: Type) -> bool:
    """False only when no value has both types `a` and `b` (so `a = b` cannot hold).
    Members are compared as unions, positions and keys aside: that can only accept
    more than OPA, which compares arrays index by index and objects key by key."""
    if a == ANY or b == ANY:
        return True
    if a[0] == "any":
        return any(meets(x, b) for x in a[1])
    if b[0] == "any":
        return any(meets(a, y) for y in b[1])
    if a[0] != b[0]:
        return False
    if a[0] == "array" and (len(a[1]) == 1 or len(b[1]) == 1):  # each position meets the one type
        return all(meets(x, y) for x in a[1] for y in b[1])
    if a[0] in ("array", "set"):
        return not a[1] or not b[1] or meets(union(*a[1]), union(*b[1]))
    if a[0] == "object":
        return not a[1] or not b[1] or (meets(union(*(k for k, _ in a[1])), union(*(k for k, _ in b[1])))
                                        and meets(union(*(v for _, v in a[1])), union(*(v for _, v in b[1]))))
    return True


def loose(t: Type) -> Type:
    """The type a value keeps once bound to a variable or a rule: OPA merges the member
    types of a set into one union then (arrays and objects keep theirs)."""
    match t:
        case ("set", ms) if ms:
            return ("set", (union(*map(loose, ms)),))
        case ("array", ms):
            return ("array", tuple(map(loose, ms)))
        case ("object", pairs):
            return ("object", tuple((loose(k), loose(v)) for k, v in pairs))
        case ("any", opts) if opts:
            return union(*map(loose, opts))
    return t


def members(t: Type) -> tuple[Type, Type]:
    """The types of the keys and of the values `some k, v in` a value of type `t` gives."""
    match t[0]:
        case "array":
            return NUMBER, union(*t[1]) if t[1] else ANY
        case "set":
            m = union(*t[1]) if t[1] else ANY
            return m, m
        case "object" if t[1]:
            return union(*(k for k, _ in t[1])), union(*(v for _, v in t[1]))
    return ANY, ANY


def show(t: Type) -> str:
    """OPA's notation: `array[number]`, `set[any]`, `any<number, string>`."""
    match t:
        case ("any", ()):
            return "any"
        case ("any", opts):
            return "any<" + ", ".join(show(o) for o in opts) + ">"
        case ("array" | "set", ms):
            return f"{t[0]}[{show(union(*ms)) if ms else 'any'}]"
        case ("object", pairs):
            if not pairs:
                return "object[any: any]"
            return f"object[{show(union(*(k for k, _ in pairs)))}: {show(union(*(v for _, v in pairs)))}]"
    return t[0]


_OF_VALUE = {type(None): NULL, bool: BOOLEAN, int: NUMBER, float: NUMBER, Num: NUMBER, str: STRING}


def of_value(v: Any) -> Type:
    """The type of a constant scalar."""
    return _OF_VALUE.get(type(v), ANY)


_COLL = union(ARRAY, SET)
_NUMBER_SET = union(NUMBER, SET)

# name -> (operand types, result type), as OPA 1.20 declares them
SIGNATURES: dict[str, tuple[tuple[Type, ...], Type]] = {
    **OPA_SIGNATURES,  # what OPA declares; the entries below refine it where OPA checks more finely
    **{op: ((ANY, ANY), BOOLEAN) for op in ("equal", "neq", "lt", "lte", "gt", "gte")},
    **{op: ((NUMBER, NUMBER), NUMBER) for op in ("plus", "mul", "div", "rem")},
    "minus": ((_NUMBER_SET, _NUMBER_SET), _NUMBER_SET),
    "and": ((SET, SET), SET),
    "or": ((SET, SET), SET),
    "internal.member_2": ((ANY, ANY), BOOLEAN),
    "internal.member_3": ((ANY, ANY, ANY), BOOLEAN),
    "count": ((union(STRING, ARRAY, OBJECT, SET),), NUMBER),
    "sum": ((union(array(NUMBER), set_(NUMBER)),), NUMBER),
    "product": ((union(array(NUMBER), set_(NUMBER)),), NUMBER),
    "max": ((_COLL,), ANY),
    "min": ((_COLL,), ANY),
    "sort": ((_COLL,), ARRAY),
    **{f: ((NUMBER,), NUMBER) for f in ("abs", "round", "floor", "ceil")},
    **{f: ((STRING, STRING), BOOLEAN) for f in ("startswith", "endswith", "contains", "regex.match")},
    "concat": ((STRING, union(array(STRING), set_(STRING))), STRING),
    **{f: ((STRING,), STRING) for f in ("lower", "upper", "trim_space")},
    "sprintf": ((STRING, ARRAY), STRING),
    "split": ((STRING, STRING), array(STRING)),
    **{f: ((STRING, STRING), STRING) for f in ("trim", "trim_prefix", "trim_suffix", "trim_left", "trim_right")},
    "replace": ((STRING, STRING, STRING), STRING),
    "substring": ((STRING, NUMBER, NUMBER), STRING),
    "indexof": ((STRING, STRING), NUMBER),
    "format_int": ((NUMBER, NUMBER), STRING),
    "to_number": ((union(NULL, BOOLEAN, NUMBER, STRING),), NUMBER),
    "object.get": ((OBJECT, ANY, ANY), ANY),
    "object.keys": ((OBJECT,), SET),
    "object.union": ((OBJECT, OBJECT), OBJECT),
    "object.remove": ((OBJECT, union(ARRAY, OBJECT, SET)), OBJECT),
    "union": ((set_(SET),), SET),
    "intersection": ((set_(SET),), SET),
    "array.concat": ((ARRAY, ARRAY), ARRAY),
    "numbers.range": ((NUMBER, NUMBER), array(NUMBER)),
    "array.slice": ((ARRAY, NUMBER, NUMBER), ARRAY),
    "glob.match": ((STRING, union(NULL, array(STRING)), STRING), BOOLEAN),
    "graph.reachable": ((object_((ANY, _COLL)), _COLL), SET),
    **{f"is_{k}": ((ANY,), BOOLEAN) for k in ("string", "number", "boolean", "array", "set", "object", "null")},
    "type_name": ((ANY,), STRING),
    # `walk(x)` is compiled as iterating over all its `[path, value]` pairs (`resolve`)
    "walk": ((ANY,), array(ARRAY)),
}

OPA_BUILTINS = frozenset(OPA_ARITY)
