"""OPA's deprecated builtins that are still callable: the `cast_*` checks and
`re_match` (`regex.match` under its old name).

A cast returns its operand when it is of the named type (`cast_array` also turns a
set into its sorted array, `cast_set` an array into its set) and is a type error
otherwise. `TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

from policydiff.compile.builtins.operands import TypeError_
from policydiff.compile.builtins.patterns import regex_match
from policydiff.compile.values import Obj, set_of, sort_key, type_name


def _cast(name: str, kind: str):
    def cast(v):
        if type_name(v) != kind:
            raise TypeError_(f"{name}: operand 1 must be {kind} but got {type_name(v)}")
        return v
    return cast


def cast_array(v):
    if type(v) is tuple:
        return v
    if type(v) is frozenset:
        return tuple(sorted(v, key=sort_key))
    raise TypeError_(f"cast_array: operand 1 must be one of {{array, set}} but got {type_name(v)}")


def cast_set(v):
    if type(v) is frozenset:
        return v
    if type(v) is tuple:
        return set_of(list(v))
    raise TypeError_(f"cast_set: operand 1 must be one of {{set, array}} but got {type_name(v)}")


def cast_object(v):
    if type(v) is Obj:
        return v
    raise TypeError_(f"cast_object: operand 1 must be object but got {type_name(v)}")


TABLE = {
    "cast_array": (1, cast_array),
    "cast_set": (1, cast_set),
    "cast_object": (1, cast_object),
    "cast_string": (1, _cast("cast_string", "string")),
    "cast_boolean": (1, _cast("cast_boolean", "boolean")),
    "cast_null": (1, _cast("cast_null", "null")),
    "re_match": (2, regex_match),
}
