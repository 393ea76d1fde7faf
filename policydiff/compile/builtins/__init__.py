"""The builtin functions of the subset, with OPA's names, arities and meaning.

`BUILTINS` maps a name to `(arity, function)`; functions take and return evaluator
values (see `compile.values`) and raise the errors of `operands`. The operators,
aggregates and the plainest string, object and set builtins are here; the other
families live in modules of this package and are registered through their `TABLE`
(`FAMILIES`); arithmetic lives in `arithmetic`, formatting in `formatting` (with
Go's verbs in `gofmt`), glob and regex matching in `patterns`. `opa_builtins` is
generated from OPA's capabilities: every builtin OPA declares, with its arity. Names
not in the table are refused when a policy is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policydiff.compile.builtins import arithmetic as ar
from policydiff.compile.builtins import (
    casts,
    documents,
    encoding,
    graphs,
    jsondocs,
    jwtokens,
    netcidr,
    regexes,
    semver,
    strtools,
    timeparse,
    units,
    uuids,
    yamldocs,
)
from policydiff.compile.builtins.formatting import sprintf
from policydiff.compile.builtins.operands import (
    BuiltinError,
    TypeError_,
    Unsupported,
    coll,
    integer,
    set_,
    string,
)
from policydiff.compile.builtins.patterns import glob_match, glob_regex, regex_match, regex_problem
from policydiff.compile.values import (
    UNDEFINED,
    Num,
    Obj,
    aligned,
    as_int,
    compare,
    equal,
    exact_find,
    sort_key,
    type_name,
)

__all__ = ["BUILTINS", "OUT_OF_SCOPE", "BuiltinError", "TypeError_", "Unsupported",
           "glob_regex", "regex_problem"]


# ----------------------------------------------------------------------------- operators


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
        return (type(k) is int or type(k) is Num and k.denominator == 1) \
            and 0 <= k < len(coll) and equal(coll[int(k)], v)
    if t is Obj:
        found = exact_find(coll, k)
        return found is not UNDEFINED and equal(coll[found], v)
    if t is frozenset:
        return equal(k, v) and _member(k, coll)
    return False


# ---------------------------------------------------------------------------- aggregates


def _count(x):
    if type(x) is str:
        return len(x)
    return len(coll(x, "count", 1))


def _max(x):
    xs = coll(x, "max", 1, (tuple, frozenset))
    return max(xs, key=sort_key) if xs else UNDEFINED


def _min(x):
    xs = coll(x, "min", 1, (tuple, frozenset))
    return min(xs, key=sort_key) if xs else UNDEFINED


def _sort(x):
    return tuple(sorted(coll(x, "sort", 1, (tuple, frozenset)), key=sort_key))


# ------------------------------------------------------------------------------- strings


def _concat(sep, xs):
    sep = string(sep, "concat", 1)
    xs = coll(xs, "concat", 2, (tuple, frozenset))
    return sep.join(string(e, "concat", 2) for e in (sorted(xs, key=sort_key) if type(xs) is frozenset else xs))


def _trim(s, cut):
    return string(s, "trim", 1).strip(string(cut, "trim", 2))


def _replace(s, old, new):
    return string(s, "replace", 1).replace(string(old, "replace", 2), string(new, "replace", 3))


def _substring(s, start, length):
    s = string(s, "substring", 1)
    start, length = integer(start, "substring", 2), integer(length, "substring", 3)
    if start < 0:
        raise BuiltinError("substring: negative offset")
    return s[start:] if length < 0 else s[start:start + length]


def _indexof(s, sub):
    return string(s, "indexof", 1).find(string(sub, "indexof", 2))


# ------------------------------------------------------------------------ objects & sets


def _object_get(obj, key, default):
    t = type(obj)
    if t is not Obj:
        raise TypeError_(f"object.get: operand 1 must be object but got {type_name(obj)}")
    if type(key) is tuple:
        cur = obj
        for k in key:
            if type(cur) is Obj and (found := exact_find(cur, k)) is not UNDEFINED:
                cur = cur[found]
            elif type(cur) is tuple and (i := as_int(k)) is not None and 0 <= i < len(cur):
                cur = cur[i]
            elif type(cur) is frozenset and exact_find(cur, k) is not UNDEFINED:
                cur = k
            else:
                return default
        return cur
    found = exact_find(obj, key)  # Python's `get` finds 1 for `true`
    return default if found is UNDEFINED else obj[found]


def _object_keys(obj):
    if type(obj) is not Obj:
        raise TypeError_(f"object.keys: operand 1 must be object but got {type_name(obj)}")
    return frozenset(obj)


def _object_union(a, b):
    if type(a) is not Obj or type(b) is not Obj:
        raise TypeError_("object.union: operands must be objects")
    a, b = aligned(a, b)
    out = Obj(a)
    for k, v in b.items():
        out[k] = _object_union(out[k], v) if type(out.get(k)) is Obj and type(v) is Obj else v
    return out


def _object_remove(obj, keys):
    if type(obj) is not Obj:
        raise TypeError_(f"object.remove: operand 1 must be object but got {type_name(obj)}")
    drop = frozenset(keys.values()) if type(keys) is Obj else frozenset(coll(keys, "object.remove", 2))
    obj, drop = aligned(obj, tuple(drop))
    drop = frozenset(drop)
    return Obj((k, v) for k, v in obj.items() if k not in drop)


def _union(xs):
    sets = aligned(*(set_(s, "union", 1) for s in set_(xs, "union", 1)))
    return frozenset().union(*sets)


def _intersection(xs):
    sets = aligned(*(set_(s, "intersection", 1) for s in set_(xs, "intersection", 1)))
    return frozenset.intersection(*sets) if sets else frozenset()


def _array_concat(a, b):
    return coll(a, "array.concat", 1, (tuple,)) + coll(b, "array.concat", 2, (tuple,))


def _array_slice(a, i, j):
    a = coll(a, "array.slice", 1, (tuple,))
    i, j = max(integer(i, "array.slice", 2), 0), min(integer(j, "array.slice", 3), len(a))
    return a[i:j] if i < j else ()


def _graph_reachable(graph, initial):
    if type(graph) is not Obj:
        raise TypeError_(f"graph.reachable: operand 1 must be object but got {type_name(graph)}")
    todo = list(coll(initial, "graph.reachable", 2, (tuple, frozenset)))
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
    s, sep = string(s, "split", 1), string(sep, "split", 2)
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
    "plus": (2, ar.plus),
    "minus": (2, ar.minus),
    "mul": (2, ar.mul),
    "div": (2, ar.div),
    "rem": (2, ar.rem),
    "and": (2, lambda a, b: frozenset.__and__(*aligned(set_(a, "and", 1), set_(b, "and", 2)))),
    "or": (2, lambda a, b: frozenset.__or__(*aligned(set_(a, "or", 1), set_(b, "or", 2)))),
    "internal.member_2": (2, _member),
    "internal.member_3": (3, _member_kv),
    "count": (1, _count),
    "sum": (1, ar.sum_),
    "product": (1, ar.product),
    "max": (1, _max),
    "min": (1, _min),
    "sort": (1, _sort),
    "abs": (1, ar.abs_),
    "round": (1, ar.round_),
    "floor": (1, ar.floor),
    "ceil": (1, ar.ceil),
    "startswith": (2, lambda s, p: string(s, "startswith", 1).startswith(string(p, "startswith", 2))),
    "endswith": (2, lambda s, p: string(s, "endswith", 1).endswith(string(p, "endswith", 2))),
    "contains": (2, lambda s, p: string(p, "contains", 2) in string(s, "contains", 1)),
    "concat": (2, _concat),
    "lower": (1, lambda s: _case(string(s, "lower", 1), False)),
    "upper": (1, lambda s: _case(string(s, "upper", 1), True)),
    "sprintf": (2, sprintf),
    "split": (2, _split),
    "trim": (2, _trim),
    "trim_space": (1, lambda s: string(s, "trim_space", 1).strip()),
    "trim_prefix": (2, lambda s, p: string(s, "trim_prefix", 1).removeprefix(string(p, "trim_prefix", 2))),
    "trim_suffix": (2, lambda s, p: string(s, "trim_suffix", 1).removesuffix(string(p, "trim_suffix", 2))),
    "trim_left": (2, lambda s, c: string(s, "trim_left", 1).lstrip(string(c, "trim_left", 2))),
    "trim_right": (2, lambda s, c: string(s, "trim_right", 1).rstrip(string(c, "trim_right", 2))),
    "replace": (3, _replace),
    "substring": (3, _substring),
    "indexof": (2, _indexof),
    "format_int": (2, ar.format_int),
    "to_number": (1, ar.to_number),
    "object.get": (3, _object_get),
    "object.keys": (1, _object_keys),
    "object.union": (2, _object_union),
    "object.remove": (2, _object_remove),
    "union": (1, _union),
    "intersection": (1, _intersection),
    "array.concat": (2, _array_concat),
    "numbers.range": (2, ar.numbers_range),
    "array.slice": (3, _array_slice),
    "glob.match": (3, glob_match),
    "regex.match": (2, regex_match),
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

# Every other OPA builtin is refused at load time. These are out of scope by design:
# their answer depends on something other than the policy, its data and its input.
OUT_OF_SCOPE: dict[str, str] = {
    "time.now_ns": "the clock",
    "io.jwt.decode_verify": "the clock, when no time is given",
    "crypto.x509.parse_and_verify_certificates": "the clock",
    "crypto.x509.parse_and_verify_certificates_with_options": "the clock",
    "providers.aws.sign_req": "the clock",
    "rand.intn": "randomness",
    "uuid.rfc4122": "randomness",
    "io.jwt.encode_sign": "randomness, for ECDSA and PSS keys",
    "io.jwt.encode_sign_raw": "randomness, for ECDSA and PSS keys",
    "http.send": "the network",
    "net.lookup_ip_addr": "the network",
    "opa.runtime": "the environment",
    "print": "a side effect",
    "internal.print": "a side effect",
    "trace": "a side effect",
    "internal.test_case": "a side effect",
}
# And these need a library of Go's that policydiff does not reimplement.
_X509 = "Go's X.509 and PEM key parsing (crypto/x509), not reimplemented"
_ED25519 = "Go's Ed25519 checks of points and encodings (crypto/ed25519), not reimplemented"
_GRAPHQL = "a GraphQL parser and validator (gqlparser), not reimplemented"
OUT_OF_SCOPE.update({
    **dict.fromkeys(("crypto.parse_private_keys", "crypto.x509.parse_certificate_request",
                     "crypto.x509.parse_certificates", "crypto.x509.parse_keypair",
                     "crypto.x509.parse_rsa_private_key"), _X509),
    "io.jwt.verify_eddsa": _ED25519,
    **dict.fromkeys(("graphql.is_valid", "graphql.parse", "graphql.parse_and_verify", "graphql.parse_query",
                     "graphql.parse_schema", "graphql.schema_is_valid"), _GRAPHQL),
    "json.match_schema": "JSON Schema validation (gojsonschema), not reimplemented",
    "json.verify_schema": "JSON Schema validation (gojsonschema), not reimplemented",
    "regex.globs_match": "the intersection of glob languages (yashtewari/glob-intersection), not reimplemented",
    "regex.template_match": "what earlier calls left in OPA's regex cache, which holds a compiled template "
                            "under its text alone, the one `regex.match` also uses",
    "rego.metadata.chain": "the policy's METADATA annotations, which the parser does not keep",
    "rego.metadata.rule": "the policy's METADATA annotations, which the parser does not keep",
    "rego.parse_module": "OPA's own AST as JSON, not reproduced",
    "strings.render_template": "Go's text/template language, not reimplemented",
    "uri.is_valid": "Go's URL parser (net/url), not reimplemented",
    "uri.parse": "Go's URL parser (net/url), not reimplemented",
})


# The families kept in rooms of their own, each naming its builtins in a `TABLE`; a
# later family's entry replaces an earlier one's.
FAMILIES = (strtools, encoding, documents, semver, regexes, netcidr, timeparse, jsondocs, jwtokens,
            uuids, casts, yamldocs, graphs, units)
for _family in FAMILIES:
    BUILTINS.update(_family.TABLE)
