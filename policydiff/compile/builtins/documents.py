"""Builtins over whole documents: `object.subset/filter/union_n`, `array.reverse/flatten`,
`numbers.range_step`, the bitwise `bits.*`, `glob.quote_meta`, and the deprecated
`set_diff`, `any` and `all` that OPA 1.20 still has.

`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

from policydiff.compile.builtins.operands import BuiltinError, TypeError_, coll, whole
from policydiff.compile.values import (
    UNDEFINED,
    Obj,
    aligned,
    equal,
    exact_find,
    sort_key,
    type_name,
)


def _is_subset(sup, sub, top: bool = False) -> bool:
    """OPA's `object.subset`: objects key by key (recursively), a set's members, an
    array as a contiguous run of the other's elements, or a set's members among an
    array's elements; any other pair of values must be equal."""
    ts, tb = type(sup), type(sub)
    if ts is Obj and tb is Obj:
        sup, sub = aligned(sup, sub)
        return all(k in sup and _is_subset(sup[k], v) for k, v in sub.items())
    if ts is frozenset and tb is frozenset:
        sup, sub = aligned(sup, sub)
        return sub <= sup
    if ts is tuple and tb is tuple:
        n = len(sub)
        return n == 0 or any(all(equal(sup[i + j], sub[j]) for j in range(n)) for i in range(len(sup) - n + 1))
    if ts is tuple and tb is frozenset and top:  # only at the top: nested, they must be equal
        # (OPA: an empty array holds no set, not even the empty one)
        return bool(sup) and all(any(equal(e, m) for e in sup) for m in sub)
    return equal(sup, sub)


def subset(sup, sub):
    kinds = (Obj, frozenset, tuple)
    if type(sup) not in kinds or type(sub) not in kinds:
        raise TypeError_("object.subset: operands must be objects, sets or arrays")
    if type(sup) is not type(sub) and not (type(sup) is tuple and type(sub) is frozenset):
        raise TypeError_("object.subset: both arguments object.subset must be of the same type or array and set")
    return _is_subset(sup, sub, top=True)


def filter_(obj, keys):
    if type(obj) is not Obj:
        raise TypeError_(f"object.filter: operand 1 must be object but got {type_name(obj)}")
    keep = tuple(keys.keys()) if type(keys) is Obj else coll(keys, "object.filter", 2, (tuple, frozenset))
    obj, keep = aligned(obj, keep)
    kept = []
    for k in keep:
        if exact_find(obj, k) is not UNDEFINED:  # the object's own key: `0.0`, kept by `0`, stays `0.0`
            found = k if type(k) is str else next(x for x in obj if equal(x, k))
            kept.append((found, obj[found]))
    return Obj(kept)


def _merge(a: Obj, b: Obj) -> Obj:
    a, b = aligned(a, b)
    out = Obj(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if type(out.get(k)) is Obj and type(v) is Obj else v
    return out


def union_n(objs):
    out = Obj()
    for o in coll(objs, "object.union_n", 1, (tuple,)):
        if type(o) is not Obj:
            raise TypeError_(f"object.union_n: operand 1 must be array of objects but got array containing {type_name(o)}")
        out = _merge(out, o)
    return out


def reverse(a):
    return coll(a, "array.reverse", 1, (tuple,))[::-1]


def flatten(a):
    out: list = []
    for e in coll(a, "array.flatten", 1, (tuple,)):
        if type(e) is tuple:
            out.extend(e)
        else:
            out.append(e)
    return tuple(out)


def range_step(a, b, step):
    name = "numbers.range_step"
    x, y, s = whole(a, name, 1), whole(b, name, 2), whole(step, name, 3)
    if s <= 0:
        raise BuiltinError(f"{name}: step must be a positive integer")
    return tuple(range(x, y + 1, s)) if x <= y else tuple(range(x, y - 1, -s))


def set_diff(a, b):
    a, b = coll(a, "set_diff", 1, (frozenset,)), coll(b, "set_diff", 2, (frozenset,))
    a, b = aligned(a, b)
    return a - b


def any_(xs):
    return any(e is True for e in coll(xs, "any", 1, (tuple, frozenset)))


def all_(xs):
    return all(e is True for e in coll(xs, "all", 1, (tuple, frozenset)))


_GLOB_SPECIAL = set("*?\\[]{}")


def quote_meta(s):
    if type(s) is not str:
        raise TypeError_(f"glob.quote_meta: operand 1 must be string but got {type_name(s)}")
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in s)


def _bits(name: str, op):
    def f(a, b):
        return op(whole(a, name, 1), whole(b, name, 2))

    return f


def _shift(name: str, left: bool):
    def f(a, b):
        x, n = whole(a, name, 1), whole(b, name, 2)
        if n < 0:
            raise TypeError_(f"{name}: operand 2 must be an unsigned integer number but got a negative integer")
        return x << n if left else x >> n

    return f


def walk(x):
    """Every `[path, value]` of a document, the document itself first, then each
    member's in OPA's order (object keys and set members sorted, arrays by index).
    `resolve` makes a call of `walk` iterate over them."""
    out: list = []

    def visit(path: tuple, v) -> None:
        out.append((path, v))
        t = type(v)
        if t is Obj:
            for k in sorted(v, key=sort_key):
                visit(path + (k,), v[k])
        elif t is tuple:
            for i, e in enumerate(v):
                visit(path + (i,), e)
        elif t is frozenset:
            for e in sorted(v, key=sort_key):
                visit(path + (e,), e)

    visit((), x)
    return tuple(out)


TABLE = {
    "walk": (1, walk),
    "object.subset": (2, subset),
    "object.filter": (2, filter_),
    "object.union_n": (1, union_n),
    "array.reverse": (1, reverse),
    "array.flatten": (1, flatten),
    "numbers.range_step": (3, range_step),
    "set_diff": (2, set_diff),
    "any": (1, any_),
    "all": (1, all_),
    "glob.quote_meta": (1, quote_meta),
    "bits.and": (2, _bits("bits.and", int.__and__)),
    "bits.or": (2, _bits("bits.or", int.__or__)),
    "bits.xor": (2, _bits("bits.xor", int.__xor__)),
    "bits.negate": (1, lambda a: ~whole(a, "bits.negate", 1)),
    "bits.lsh": (2, _shift("bits.lsh", True)),
    "bits.rsh": (2, _shift("bits.rsh", False)),
}
