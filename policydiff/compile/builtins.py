"""The builtin functions of the subset, with OPA's names, arities and meaning.

`BUILTINS` maps a name to `(arity, function)`; functions take and return evaluator
values (see `values`). A builtin that cannot produce a value raises `BuiltinError`
(`TypeError_` for operand types): OPA makes such an expression undefined, or an
`eval_builtin_error` / `eval_type_error` when strict errors are asked for. Names not in
the table are refused when a policy is loaded.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from policydiff.compile.values import UNDEFINED, Obj, compare, equal, sort_key, type_name


class BuiltinError(Exception):
    code = "eval_builtin_error"


class TypeError_(BuiltinError):
    code = "eval_type_error"


def _num(v: Any, name: str, pos: int) -> int | float:
    if type(v) in (int, float):
        return v
    raise TypeError_(f"{name}: operand {pos} must be number but got {type_name(v)}")


def _str(v: Any, name: str, pos: int) -> str:
    if type(v) is str:
        return v
    raise TypeError_(f"{name}: operand {pos} must be string but got {type_name(v)}")


def _coll(v: Any, name: str, pos: int, kinds=(tuple, frozenset, Obj)):
    if type(v) in kinds:
        return v
    want = " or ".join(sorted(type_name(k()) for k in kinds))
    raise TypeError_(f"{name}: operand {pos} must be one of {{{want}}} but got {type_name(v)}")


def _set(v: Any, name: str, pos: int) -> frozenset:
    if type(v) is frozenset:
        return v
    raise TypeError_(f"{name}: operand {pos} must be set but got {type_name(v)}")


def _norm(x: float) -> int | float:
    if type(x) is float and x.is_integer() and abs(x) < 2**63:
        return int(x)
    return x


# ----------------------------------------------------------------------------- operators


def _exact(op, x, y):
    """OPA computes with decimals, not binary floats: 0.1 + 0.2 is 0.3."""
    if type(x) is int and type(y) is int:
        return op(x, y)
    from decimal import Decimal

    return _norm(float(op(Decimal(repr(x)), Decimal(repr(y)))))


def _plus(a, b):
    return _exact(operator.add, _num(a, "plus", 1), _num(b, "plus", 2))


def _minus(a, b):
    if type(a) is frozenset and type(b) is frozenset:
        return a - b
    return _exact(operator.sub, _num(a, "minus", 1), _num(b, "minus", 2))


def _mul(a, b):
    return _exact(operator.mul, _num(a, "mul", 1), _num(b, "mul", 2))


def _div(a, b):
    x, y = _num(a, "div", 1), _num(b, "div", 2)
    if y == 0:
        raise BuiltinError("div: divide by zero")
    if type(x) is int and type(y) is int and x % y == 0:
        return x // y
    return _norm(x / y)


def _rem(a, b):
    x, y = _num(a, "rem", 1), _num(b, "rem", 2)
    if type(x) is not int or type(y) is not int:
        raise BuiltinError("rem: modulo on floating-point number")
    if y == 0:
        raise BuiltinError("rem: modulo by zero")
    r = abs(x) % abs(y)  # Go's % keeps the sign of the dividend
    return -r if x < 0 else r


def _member(x, coll):
    t = type(coll)
    if t is frozenset:
        if x not in coll:
            return False
        return type(x) is str or any(equal(x, e) for e in coll)  # `in` hashes true like 1
    if t is tuple:
        return any(equal(x, e) for e in coll)
    if t is Obj:
        return any(equal(x, e) for e in coll.values())
    return False


def _member_kv(k, v, coll):
    t = type(coll)
    if t is tuple:
        return type(k) in (int, float) and type(k) is not bool and float(k).is_integer() \
            and 0 <= k < len(coll) and equal(coll[int(k)], v)
    if t is Obj:
        return k in coll and equal(coll[k], v)
    if t is frozenset:
        return equal(k, v) and _member(k, coll)
    return False


# ---------------------------------------------------------------------------- aggregates


def _count(x):
    if type(x) is str:
        return len(x)
    return len(_coll(x, "count", 1))


def _sum(x):
    xs = _coll(x, "sum", 1, (tuple, frozenset))
    return _norm(sum(_num(e, "sum", 1) for e in xs))


def _product(x):
    out = 1
    for e in _coll(x, "product", 1, (tuple, frozenset)):
        out *= _num(e, "product", 1)
    return _norm(out)


def _max(x):
    xs = _coll(x, "max", 1, (tuple, frozenset))
    return max(xs, key=sort_key) if xs else UNDEFINED


def _min(x):
    xs = _coll(x, "min", 1, (tuple, frozenset))
    return min(xs, key=sort_key) if xs else UNDEFINED


def _sort(x):
    return tuple(sorted(_coll(x, "sort", 1, (tuple, frozenset)), key=sort_key))


# ------------------------------------------------------------------------------- strings


def _concat(sep, xs):
    sep = _str(sep, "concat", 1)
    xs = _coll(xs, "concat", 2, (tuple, frozenset))
    return sep.join(_str(e, "concat", 2) for e in (sorted(xs, key=sort_key) if type(xs) is frozenset else xs))


def _format(v) -> str:
    """A value as OPA's `%v` writes it: strings bare at the top, composites in Rego
    syntax with members and keys in OPA's order."""
    return v if type(v) is str else _term(v)


def _term(v) -> str:
    t = type(v)
    if t is str:
        import json

        return json.dumps(v, ensure_ascii=False)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if t is tuple:
        return "[" + ", ".join(_term(e) for e in v) + "]"
    if t is frozenset:
        return "{" + ", ".join(_term(e) for e in sorted(v, key=sort_key)) + "}" if v else "set()"
    if t is Obj:
        return "{" + ", ".join(f"{_term(k)}: {_term(v[k])}" for k in sorted(v, key=sort_key)) + "}"
    return _format_number(v)


def _format_number(v) -> str:
    if type(v) is float:
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    return str(v)


_VERB = re.compile(r"%(\[\d+\])?[-+# 0]*\d*(\.\d+)?([a-zA-Z%])")


def _sprintf(fmt, args):
    """Go's fmt as OPA feeds it: integral numbers are int64, others float64, strings
    strings, and every other value its Rego text as a string. A verb of the wrong type
    prints Go's `%!verb(type=value)`; verbs whose Go output is not reproduced here
    (`%x` of a float, `%q` of a number, `%b`, `%c`, ...) stop with `unsupported`."""
    fmt = _str(fmt, "sprintf", 1)
    args = [_go_value(a) for a in _coll(args, "sprintf", 2, (tuple,))]
    out = []
    pos = 0
    n = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        verb, spec = m.group(3), m.group(0)
        if m.group(1):
            raise Unsupported("sprintf: explicit argument indexes are not supported")
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        kind, v = args[n]
        n += 1
        flags = spec[1:-1]
        if verb == "v" or (verb == "s" and kind == "string") or (verb == "d" and kind == "int64"):
            text = _go_text(kind, v)
            out.append(("%" + flags + ("d" if kind == "int64" and "0" in flags else "s"))
                       % (v if kind == "int64" and "0" in flags else text) if flags else text)
        elif verb in "feEgG" and kind == "float64":
            out.append(("%" + spec[1:]) % v)
        elif verb in "xX" and kind in ("int64", "string"):
            out.append(("%" + spec[1:]) % v if kind == "int64"
                       else v.encode().hex() if verb == "x" else v.encode().hex().upper())
        elif verb == "q" and kind == "string" and v.isascii() and v.isprintable():
            out.append(_term(v))
        elif verb in "sdfeEgGxXqt" and not (verb in "xXq"):
            out.append(f"%!{verb}({kind}={_go_text(kind, v)})")
        else:
            raise Unsupported(f"sprintf: `{spec}` of a {kind} is not reproduced exactly")
    out.append(fmt[pos:])
    if n < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{k}={_go_text(k, v)}" for k, v in args[n:]) + ")")
    return "".join(out)


def _go_value(v) -> tuple[str, Any]:
    t = type(v)
    if t is int:
        return ("int64", v) if -2**63 <= v < 2**63 else ("string", str(v))  # beyond int64: its digits
    if t is float:
        if v.is_integer() and abs(v) < 2**63:
            return "int64", int(v)
        return "float64", v
    if t is str:
        return "string", v
    return "string", _term(v)


def _go_text(kind: str, v) -> str:
    if kind != "float64":
        return str(v)
    # Go's %v of a float64: its shortest digits, in exponent form when the exponent is
    # below -4 or at least 6 (`1.2345675e+06`), else in positional form
    digits, exp = _shortest(v)
    sign = "-" if v < 0 else ""
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, frac = digits[: exp + 1].ljust(exp + 1, "0"), digits[exp + 1:]
    return f"{sign}{whole}{'.' + frac if frac else ''}"


def _shortest(v: float) -> tuple[str, int]:
    """The shortest decimal digits that read back as `v`, and the exponent of the first."""
    r = repr(abs(v))
    if "e" in r:
        mant, _, exp = r.partition("e")
        return mant.replace(".", "").rstrip("0") or "0", int(exp)
    whole, _, frac = r.partition(".")
    if whole != "0":
        return (whole + frac).rstrip("0") or "0", len(whole) - 1
    stripped = frac.lstrip("0")
    return stripped.rstrip("0") or "0", -(len(frac) - len(stripped)) - 1


def _trim(s, cut):
    return _str(s, "trim", 1).strip(_str(cut, "trim", 2))


def _replace(s, old, new):
    return _str(s, "replace", 1).replace(_str(old, "replace", 2), _str(new, "replace", 3))


def _substring(s, start, length):
    s = _str(s, "substring", 1)
    start, length = _num(start, "substring", 2), _num(length, "substring", 3)
    if start < 0:
        raise BuiltinError("substring: negative offset")
    return s[start:] if length < 0 else s[start:start + length]


def _indexof(s, sub):
    return _str(s, "indexof", 1).find(_str(sub, "indexof", 2))


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _to_number(v):
    t = type(v)
    if t in (int, float):
        return v
    if v is None:
        return 0
    if t is bool:
        return 1 if v else 0
    if t is str:
        if not _NUMBER.fullmatch(v):  # Python would also take "1_000", " 1", "inf"
            raise BuiltinError(f"to_number: invalid syntax: {v!r}")
        try:
            return int(v)
        except ValueError:
            return _norm(float(v))
    raise TypeError_(f"to_number: operand 1 must be one of {{boolean, null, number, string}} but got {type_name(v)}")


# ------------------------------------------------------------------------ objects & sets


def _object_get(obj, key, default):
    t = type(obj)
    if t is not Obj:
        raise TypeError_(f"object.get: operand 1 must be object but got {type_name(obj)}")
    if type(key) is tuple:
        cur = obj
        for k in key:
            if type(cur) is Obj and k in cur or type(cur) is tuple and type(k) is int and 0 <= k < len(cur):
                cur = cur[k]
            elif type(cur) is frozenset and k in cur:
                cur = k
            else:
                return default
        return cur
    return obj.get(key, default)


def _object_keys(obj):
    if type(obj) is not Obj:
        raise TypeError_(f"object.keys: operand 1 must be object but got {type_name(obj)}")
    return frozenset(obj)


def _object_union(a, b):
    if type(a) is not Obj or type(b) is not Obj:
        raise TypeError_("object.union: operands must be objects")
    out = Obj(a)
    for k, v in b.items():
        out[k] = _object_union(out[k], v) if type(out.get(k)) is Obj and type(v) is Obj else v
    return out


def _object_remove(obj, keys):
    if type(obj) is not Obj:
        raise TypeError_(f"object.remove: operand 1 must be object but got {type_name(obj)}")
    drop = set(keys.values()) if type(keys) is Obj else set(_coll(keys, "object.remove", 2))
    return Obj((k, v) for k, v in obj.items() if k not in drop)


def _union(xs):
    out: frozenset = frozenset()
    for s in _set(xs, "union", 1):
        out |= _set(s, "union", 1)
    return out


def _intersection(xs):
    sets = [_set(s, "intersection", 1) for s in _set(xs, "intersection", 1)]
    return frozenset.intersection(*sets) if sets else frozenset()


def _array_concat(a, b):
    return _coll(a, "array.concat", 1, (tuple,)) + _coll(b, "array.concat", 2, (tuple,))


def _array_slice(a, i, j):
    a = _coll(a, "array.slice", 1, (tuple,))
    i, j = max(_num(i, "array.slice", 2), 0), min(_num(j, "array.slice", 3), len(a))
    return a[i:j] if i < j else ()


# -------------------------------------------------------------------------------- globs


class Unsupported(BuiltinError):
    """The arguments ask for something the subset does not evaluate faithfully: the
    evaluation stops with `unsupported` rather than guess."""

    code = "unsupported"


_GLOB_CACHE: dict[tuple, re.Pattern] = {}


def _glob_match(pattern, delimiters, match):
    pattern, match = _str(pattern, "glob.match", 1), _str(match, "glob.match", 3)
    if delimiters is None:
        delims: tuple = ()  # null: `*` crosses everything
    else:
        delims = tuple(_str(d, "glob.match", 2) for d in _coll(delimiters, "glob.match", 2, (tuple,))) or (".",)
    key = (pattern, delims)
    rx = _GLOB_CACHE.get(key)
    if rx is None:
        rx = _GLOB_CACHE[key] = glob_regex(pattern, delims)
    return rx.fullmatch(match) is not None


def glob_regex(pattern: str, delims: tuple[str, ...]) -> re.Pattern:
    """OPA's glob syntax (gobwas/glob) as a Python regex: `*` any run of non-delimiter
    characters, `**` any run, `?` one non-delimiter, `[a-z]` / `[!a-z]` classes,
    `{a,b}` alternatives (not nested), `\\x` a literal `x`."""
    if len(delims) == 1 and len(delims[0]) == 1:
        other = "[^" + re.escape(delims[0]) + "]"
    elif delims:
        other = "(?:(?!" + "|".join(re.escape(d) for d in delims) + ").)"
    else:
        other = "."
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append(other + "*")
            i += 1
        elif c == "?":
            out.append(other)
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise Unsupported(f"glob.match: unterminated class in `{pattern}`")
            body = pattern[i + 1:end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            parts = []
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    parts.append(re.escape(body[j]) + "-" + re.escape(body[j + 2]))
                    j += 3
                else:
                    parts.append(re.escape(body[j]))
                    j += 1
            out.append("[" + ("^" if neg else "") + "".join(parts) + "]")
            i = end + 1
        elif c == "{":
            if depth:
                raise Unsupported(f"glob.match: nested alternatives in `{pattern}`")
            depth += 1
            out.append("(?:")
            i += 1
        elif c == "," and depth:
            out.append("|")
            i += 1
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    if depth:
        raise Unsupported(f"glob.match: unterminated alternatives in `{pattern}`")
    return re.compile("".join(out), re.DOTALL)


_REGEX_CACHE: dict[str, re.Pattern] = {}
# RE2 (OPA) and Python's `re` agree on plain patterns. Refused: what RE2 lacks and Python
# has (backreferences, lookaround, atomic groups), what they spell differently (POSIX
# classes, \\Q…\\E, \\p{…}, \\z/\\Z, named groups without P, \\x{…}).
_RE2_UNSAFE = re.compile(r"\\[1-9]|\(\?[=!<>]|\(\?P=|\[\[:|\\[QEpPCzZGX]|\\x\{")


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be evaluated as OPA would, or None."""
    if _RE2_UNSAFE.search(pattern):
        return f"pattern `{pattern}` uses a construct RE2 and Python read differently"
    return None


def _regex_match(pattern, value):
    pattern, value = _str(pattern, "regex.match", 1), _str(value, "regex.match", 2)
    rx = _REGEX_CACHE.get(pattern)
    if rx is None:
        problem = regex_problem(pattern)
        if problem:
            raise Unsupported(f"regex.match: {problem}")
        try:
            # ASCII: RE2's \\d \\w \\s are ASCII-only
            rx = _REGEX_CACHE[pattern] = re.compile(pattern, re.ASCII)
        except re.error as e:
            raise BuiltinError(f"regex.match: {e}") from None
    if "$" in pattern and "\n" in value:  # Python's `$` also matches before a final newline
        raise Unsupported("regex.match: `$` against a value with a newline")
    return rx.search(value) is not None


def _graph_reachable(graph, initial):
    if type(graph) is not Obj:
        raise TypeError_(f"graph.reachable: operand 1 must be object but got {type_name(graph)}")
    todo = list(_coll(initial, "graph.reachable", 2, (tuple, frozenset)))
    seen: set = set()
    while todo:
        n = todo.pop()
        if n in seen or n not in graph:  # OPA reaches only the graph's own nodes
            continue
        seen.add(n)
        edges = graph[n]
        if type(edges) in (tuple, frozenset):
            todo.extend(edges)
    return frozenset(seen)


def _is(kind: str) -> Callable[[Any], bool]:
    def check(v):
        return type_name(v) == kind

    return check


def _split(s, sep):
    s, sep = _str(s, "split", 1), _str(sep, "split", 2)
    return tuple(s) if sep == "" else tuple(s.split(sep))  # Go splits "" into characters


def _case(s: str, upper: bool) -> str:
    """Go maps case one character at a time: `ß` stays `ß` where Python writes `SS`."""
    out = []
    for c in s:
        m = c.upper() if upper else c.lower()
        out.append(m if len(m) == 1 else _GO_CASE.get(c, c))
    return "".join(out)


_GO_CASE = {"İ": "i"}


def _eq(a, b):
    return equal(a, b)


BUILTINS: dict[str, tuple[int, Callable[..., Any]]] = {
    "equal": (2, _eq),
    "neq": (2, lambda a, b: not equal(a, b)),
    "lt": (2, lambda a, b: compare(a, b) < 0),
    "lte": (2, lambda a, b: compare(a, b) <= 0),
    "gt": (2, lambda a, b: compare(a, b) > 0),
    "gte": (2, lambda a, b: compare(a, b) >= 0),
    "plus": (2, _plus),
    "minus": (2, _minus),
    "mul": (2, _mul),
    "div": (2, _div),
    "rem": (2, _rem),
    "and": (2, lambda a, b: _set(a, "and", 1) & _set(b, "and", 2)),
    "or": (2, lambda a, b: _set(a, "or", 1) | _set(b, "or", 2)),
    "internal.member_2": (2, _member),
    "internal.member_3": (3, _member_kv),
    "count": (1, _count),
    "sum": (1, _sum),
    "product": (1, _product),
    "max": (1, _max),
    "min": (1, _min),
    "sort": (1, _sort),
    "abs": (1, lambda x: abs(_num(x, "abs", 1))),
    "round": (1, lambda x: int(_num(x, "round", 1) + (0.5 if x >= 0 else -0.5))),
    "floor": (1, lambda x: int(_num(x, "floor", 1) // 1)),
    "ceil": (1, lambda x: -int(-_num(x, "ceil", 1) // 1)),
    "startswith": (2, lambda s, p: _str(s, "startswith", 1).startswith(_str(p, "startswith", 2))),
    "endswith": (2, lambda s, p: _str(s, "endswith", 1).endswith(_str(p, "endswith", 2))),
    "contains": (2, lambda s, p: _str(p, "contains", 2) in _str(s, "contains", 1)),
    "concat": (2, _concat),
    "lower": (1, lambda s: _case(_str(s, "lower", 1), False)),
    "upper": (1, lambda s: _case(_str(s, "upper", 1), True)),
    "sprintf": (2, _sprintf),
    "split": (2, _split),
    "trim": (2, _trim),
    "trim_space": (1, lambda s: _str(s, "trim_space", 1).strip()),
    "trim_prefix": (2, lambda s, p: _str(s, "trim_prefix", 1).removeprefix(_str(p, "trim_prefix", 2))),
    "trim_suffix": (2, lambda s, p: _str(s, "trim_suffix", 1).removesuffix(_str(p, "trim_suffix", 2))),
    "trim_left": (2, lambda s, c: _str(s, "trim_left", 1).lstrip(_str(c, "trim_left", 2))),
    "trim_right": (2, lambda s, c: _str(s, "trim_right", 1).rstrip(_str(c, "trim_right", 2))),
    "replace": (3, _replace),
    "substring": (3, _substring),
    "indexof": (2, _indexof),
    "format_int": (2, lambda n, b: format(int(_num(n, "format_int", 1)),
                                          {2: "b", 8: "o", 10: "d", 16: "x"}[_num(b, "format_int", 2)])),
    "to_number": (1, _to_number),
    "object.get": (3, _object_get),
    "object.keys": (1, _object_keys),
    "object.union": (2, _object_union),
    "object.remove": (2, _object_remove),
    "union": (1, _union),
    "intersection": (1, _intersection),
    "array.concat": (2, _array_concat),
    "array.slice": (3, _array_slice),
    "glob.match": (3, _glob_match),
    "regex.match": (2, _regex_match),
    "graph.reachable": (2, _graph_reachable),
    "is_string": (1, _is("string")),
    "is_number": (1, _is("number")),
    "is_boolean": (1, _is("boolean")),
    "is_array": (1, _is("array")),
    "is_set": (1, _is("set")),
    "is_object": (1, _is("object")),
    "is_null": (1, _is("null")),
    "type_name": (1, type_name),
}

# Every other OPA builtin is refused at load time; these are named so the message can
# say why (they depend on the world outside the policy, or on time).
NONDETERMINISTIC_PREFIXES = ("http.", "net.", "rand.", "uuid.", "time.", "opa.", "io.", "crypto.")
