"""What builtins check their operands with, and the errors they raise.

A builtin that cannot produce a value raises `BuiltinError` (`TypeError_` for operand
types): OPA makes such an expression undefined, or an `eval_builtin_error` /
`eval_type_error` when strict errors are asked for. `Unsupported` is different: the
arguments ask for something not reproduced faithfully, and evaluation stops.
"""

from __future__ import annotations

from typing import Any

from policydiff.compile.values import Obj, type_name


class BuiltinError(Exception):
    code = "eval_builtin_error"


class TypeError_(BuiltinError):
    code = "eval_type_error"


def num(v: Any, name: str, pos: int) -> int | float:
    if type(v) in (int, float):
        return v
    raise TypeError_(f"{name}: operand {pos} must be number but got {type_name(v)}")


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


def norm(x: float) -> int | float:
    if type(x) is float and x.is_integer() and abs(x) < 2**63:
        return int(x)
    return x


class Unsupported(BuiltinError):
    """The arguments ask for something the subset does not evaluate faithfully: the
    evaluation stops with `unsupported` rather than guess."""

    code = "unsupported"
