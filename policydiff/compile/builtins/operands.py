"""What builtins check their operands with, and the errors they raise.

A builtin that cannot produce a value raises `BuiltinError` (`TypeError_` for operand
types): OPA makes such an expression undefined, or an `eval_builtin_error` /
`eval_type_error` when strict errors are asked for. `Unsupported` is different: the
arguments ask for something not reproduced faithfully, and evaluation stops.
"""

from __future__ import annotations

from typing import Any

from policydiff.compile.values import Num, Obj, as_int, type_name
from policydiff.errors import Code


class BuiltinError(Exception):
    code = Code.EVAL_BUILTIN_ERROR


class TypeError_(BuiltinError):
    code = Code.EVAL_TYPE_ERROR


def num(v: Any, name: str, pos: int) -> int | Num:
    t = type(v)
    if t is int or t is Num:
        return v
    raise TypeError_(f"{name}: operand {pos} must be number but got {type_name(v)}")


def integer(v: Any, name: str, pos: int) -> int:
    """An operand OPA reads with `Number.Int` (string offsets, slice bounds)."""
    i = as_int(num(v, name, pos))
    if i is None:
        raise TypeError_(f"{name}: operand {pos} must be integer number but got floating-point number")
    return i


def whole(v: Any, name: str, pos: int) -> int:
    """An operand OPA reads with `NumberToInt`: any number of integral value, however
    written or large (`1e0`, `1e30`)."""
    x = num(v, name, pos)
    if type(x) is Num:
        if x.denominator != 1:
            raise TypeError_(f"{name}: operand {pos} must be integer number but got floating-point number")
        return int(x)
    return x


def string(v: Any, name: str, pos: int) -> str:
    if type(v) is str:
        return v
    raise TypeError_(f"{name}: operand {pos} must be string but got {type_name(v)}")


def coll(v: Any, name: str, pos: int, kinds=(tuple, frozenset, Obj)):
    if type(v) in kinds:
        return v
    want = " or ".join(sorted(type_name(k()) for k in kinds))
    raise TypeError_(f"{name}: operand {pos} must be one of {{{want}}} but got {type_name(v)}")


def set_(v: Any, name: str, pos: int) -> frozenset:
    if type(v) is frozenset:
        return v
    raise TypeError_(f"{name}: operand {pos} must be set but got {type_name(v)}")


class Unsupported(BuiltinError):
    """The arguments ask for something the subset does not evaluate faithfully: the
    evaluation stops with `unsupported` rather than guess."""

    code = Code.UNSUPPORTED
