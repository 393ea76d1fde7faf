"""`json.filter`, `json.remove` and `json.patch`: documents edited by paths, as OPA does.

A path is a JSON pointer string (leading slashes dropped, `~1` read as `/` and `~0` as
`~`; `""` is the empty path) or an array of segments (any values). `json.filter` keeps
and `json.remove` drops what the paths reach: the paths are first merged into a tree
(a shorter path covers a longer one), array elements are reached by their index
written as a string, set members by themselves. `json.patch` applies RFC 6902
operations one after the other as OPA's edit tree does: an array index is an integer
or its decimal text without leading zeros (`-` is one past the end), a set member is
reached by its value; any failed operation is an error. `json.marshal_with_options`
writes `json.marshal`'s text, indented as Go's `json.MarshalIndent` indents it when
`pretty` is true, or when it is absent and `prefix` or `indent` is given.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import re

from policydiff.compile.builtins.encoding import dumps
from policydiff.compile.builtins.operands import BuiltinError, TypeError_, Unsupported
from policydiff.compile.values import UNDEFINED, Num, Obj, equal, sort_key, type_name

_INT64 = 2**63


def _path(p, name: str) -> tuple:
    if type(p) is str:
        if p == "":
            return ()
        return tuple(part.replace("~1", "/").replace("~0", "~") for part in p.lstrip("/").split("/"))
    if type(p) is tuple:
        return p
    raise TypeError_(f"{name}: operand 2 must be one of {{set, array}} containing string paths or array of "
                       f"path segments but got {type_name(p)}")


def _paths(v, name: str) -> list[tuple]:
    if type(v) not in (tuple, frozenset):
        raise TypeError_(f"{name}: operand 2 must be one of {{set, array}} but got {type_name(v)}")
    return [_path(p, name) for p in v]


def _tree(paths: list[tuple]) -> Obj:
    """OPA's `pathsToObject`: nested objects, `None` where a path ends."""
    root = Obj()
    for path in paths:
        if not path:
            continue
        node, done = root, False
        for k in path[:-1]:
            child = node.get(k, UNDEFINED)
            if child is UNDEFINED:
                node[k] = Obj()
                node = node[k]
            elif child is None:
                done = True
                break
            else:
                node = child
        if not done:
            node[path[-1]] = None
    return root


def _freeze(tree):
    """The mutable tree as a value (`Obj` hashes by content, so build it bottom-up)."""
    if type(tree) is Obj:
        return Obj((k, _freeze(v)) for k, v in tree.items())
    return tree


def _object(v, name: str) -> Obj:
    if type(v) is not Obj:
        raise TypeError_(f"{name}: operand 1 must be object but got {type_name(v)}")
    return v


def _filter(v, f):
    if f is None:
        return v
    t = type(v)
    if t is tuple:
        return tuple(_filter(e, f[str(i)]) for i, e in enumerate(v) if str(i) in f)
    if t is frozenset:
        return frozenset(_filter(e, f[e]) for e in v if e in f)
    if t is Obj:
        return Obj((k, _filter(e, f[k])) for k, e in v.items() if k in f)
    return v


def filter_(obj, paths):
    name = "json.filter"
    obj = _object(obj, name)
    return _filter(obj, _freeze(_tree(_paths(paths, name))))


_GONE = object()


def _remove(v, f):
    if f is None:
        return _GONE
    if type(f) is not Obj:
        return v
    t = type(v)
    if t is tuple:
        out = (_remove(e, f.get(str(i), UNDEFINED)) for i, e in enumerate(v))
        return tuple(e for e in out if e is not _GONE)
    if t is frozenset:
        out = (_remove(e, f.get(e, UNDEFINED)) for e in v)
        return frozenset(e for e in out if e is not _GONE)
    if t is Obj:
        out = ((k, _remove(e, f.get(k, UNDEFINED))) for k, e in v.items())
        return Obj((k, e) for k, e in out if e is not _GONE)
    return v


def remove(obj, paths):
    name = "json.remove"
    obj = _object(obj, name)
    return _remove(obj, _freeze(_tree(_paths(paths, name))))


# ------------------------------------------------------------------------------ patch


class _Fail(Exception):
    """A patch operation OPA's edit tree rejects: the call fails."""


# OPA reads an array index from a string or a number's text as an integer, with any
# sign, an empty integer part and zeros after a point allowed (`1.0`, `1.`, `.`, `-0`);
# a string may not start with a zero unless it is "0" ("0.0" is refused, 0.0 is not)
_INDEX = re.compile(r"[+-]?(?:[0-9]+(?:\.0*)?|\.0*)")


def _index(n: int, key) -> int:
    t = type(key)
    if t is int:
        i = key
    elif t is str or t is Num:
        text = key if t is str else key.text
        if text == "-" and t is str:
            return n
        if not _INDEX.fullmatch(text) or (t is str and text != "0" and text.startswith("0")):
            raise _Fail
        whole = text.split(".")[0]
        i = int(whole.lstrip("+-") or "0")
        if whole.startswith("-"):
            i = -i
    else:
        raise _Fail
    if not -_INT64 <= i < _INT64:
        raise _Fail
    return i


def _get(doc, path: tuple):
    for key in path:
        t = type(doc)
        if t is Obj:
            if key not in doc:
                raise _Fail
            doc = doc[key]
        elif t is frozenset:
            if key not in doc:
                raise _Fail
            doc = key
        elif t is tuple:
            i = _index(len(doc), key)
            if not 0 <= i < len(doc):
                raise _Fail
            doc = doc[i]
        else:
            raise _Fail
    return doc


def _edit(doc, path: tuple, at):
    """`doc` with `at(parent, last_key)` applied at the end of `path` (non-empty)."""
    if len(path) == 1:
        return at(doc, path[0])
    key, rest = path[0], path[1:]
    child = _get(doc, (key,))
    new = _edit(child, rest, at)
    t = type(doc)
    if t is Obj:
        out = Obj(doc)
        out[key] = new
        return out
    if t is frozenset:
        return (doc - {key}) | {new}
    i = _index(len(doc), key)
    return doc[:i] + (new,) + doc[i + 1:]


def _insert_at(value):
    def at(parent, key):
        t = type(parent)
        if t is Obj:
            out = Obj(parent)
            out[key] = value
            return out
        if t is frozenset:
            if not equal(key, value):
                raise _Fail
            return parent | {value}
        if t is tuple:
            i = _index(len(parent), key)
            if not 0 <= i <= len(parent):
                raise _Fail
            return parent[:i] + (value,) + parent[i:]
        raise _Fail
    return at


def _delete_at(parent, key):
    t = type(parent)
    if t is Obj:
        if key not in parent:
            raise _Fail
        return Obj((k, v) for k, v in parent.items() if k != key or not equal(k, key))
    if t is frozenset:
        if key not in parent:
            raise _Fail
        return parent - {key}
    if t is tuple:
        i = _index(len(parent), key)
        if not 0 <= i < len(parent):
            raise _Fail
        return parent[:i] + parent[i + 1:]
    raise _Fail


def _insert(doc, path, value):
    if doc is _GONE and path:
        raise _Fail
    return value if not path else _edit(doc, path, _insert_at(value))


def _delete(doc, path):
    if doc is _GONE:
        raise _Fail
    return _GONE if not path else _edit(doc, path, _delete_at)


def _attr(op: Obj, name: str):
    if name not in op:
        raise _Fail
    return op[name]


def _patch_path(p) -> tuple:
    if type(p) not in (str, tuple):
        raise _Fail
    return _path(p, "json.patch")


def patch(doc, ops):
    name = "json.patch"
    if type(ops) is not tuple:
        raise TypeError_(f"{name}: operand 2 must be array but got {type_name(ops)}")
    try:
        for op in ops:
            if type(op) is not Obj:
                raise _Fail
            kind = _attr(op, "op")
            if kind not in ("add", "remove", "replace", "move", "copy", "test"):
                raise _Fail
            path = _patch_path(_attr(op, "path"))
            src = _patch_path(_attr(op, "from")) if kind in ("move", "copy") else None
            value = _attr(op, "value") if kind in ("add", "replace", "test") else None
            if kind == "add":
                doc = _insert(doc, path, value)
            elif kind == "remove":
                doc = _delete(doc, path)
            elif kind == "replace":
                doc = _insert(_delete(doc, path), path, value)
            elif kind in ("move", "copy"):
                if doc is _GONE:
                    raise _Fail
                chunk = _get(doc, src)
                if kind == "move":
                    doc = _delete(doc, src)
                doc = _insert(doc, path, chunk)
            else:
                if doc is _GONE or not equal(_get(doc, path), value):
                    raise _Fail
    except _Fail:
        raise BuiltinError(f"{name}: an operation cannot be applied") from None
    if doc is _GONE:
        raise Unsupported(f"{name}: a patch that removes the whole document")
    return doc


# ---------------------------------------------------------------------- marshal with options


def _indent(compact: str, prefix: str, indent: str) -> str:
    """Go's `json.Indent` of compact JSON text: empty `{}` and `[]` stay as they are."""
    out: list[str] = []
    depth, need, in_string, escaped = 0, False, False, False
    for c in compact:
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            continue
        if need and c not in "]}":
            need = False
            depth += 1
            out.append("\n" + prefix + indent * depth)
        if c == '"':
            in_string = True
            out.append(c)
        elif c in "{[":
            out.append(c)
            need = True
        elif c == ",":
            out.append(",\n" + prefix + indent * depth)
        elif c == ":":
            out.append(": ")
        elif c in "}]":
            if need:
                need = False
            else:
                depth -= 1
                out.append("\n" + prefix + indent * depth)
            out.append(c)
        else:
            out.append(c)
    return "".join(out)


def marshal_with_options(v, opts):
    name = "json.marshal_with_options"
    if type(opts) is not Obj:
        raise TypeError_(f"{name}: operand 2 must be object but got {type_name(opts)}")
    prefix, indent, implicit, explicit = "", "\t", False, None
    for key in sorted(opts, key=sort_key):
        val = opts[key]
        if key in ("prefix", "indent"):
            if type(val) is not str:
                raise TypeError_(f"{name}: operand 2 key {key} failed cast to string")
            prefix, indent = (val, indent) if key == "prefix" else (prefix, val)
            implicit = True
        elif key == "pretty":
            if type(val) is not bool:
                raise TypeError_(f"{name}: operand 2 key {key} failed cast to bool")
            explicit = val
        else:
            raise TypeError_(f"{name}: operand 2 object contained unknown key {key}")
    compact = dumps(v)
    if not (implicit if explicit is None else explicit):
        return compact
    return prefix + _indent(compact, prefix, indent)


TABLE = {
    "json.marshal_with_options": (2, marshal_with_options),
    "json.filter": (2, filter_),
    "json.remove": (2, remove),
    "json.patch": (2, patch),
}
