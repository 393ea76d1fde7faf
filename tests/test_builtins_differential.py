"""The builtins beyond the RBAC core, called with random operands, answer as real OPA.

Each call (drawn by `builtin_strategies.calls`) is evaluated as `x := call` by
policydiff and by OPA 1.20 (`opa_bindings`), with strict builtin errors: both must
give the same value, or both an error of the same kind (a type error at load, or a
builtin error / type error at evaluation). policydiff may refuse a call as
`unsupported`; it may never answer one differently.
"""

from __future__ import annotations

import re

import opa_bindings
import pytest
from builtin_strategies import OPERANDS, calls
from engines import normalize
from hypothesis import HealthCheck, event, given, settings

from policydiff import PolicyError, query
from policydiff.compile.builtins import BUILTINS


def _solutions(sols) -> list:
    """The solutions, in one order (`walk` has several; the order of its solutions is
    OPA's, but a query's bindings are a set)."""
    return sorted((normalize(s) for s in sols), key=repr)


def _opa(text: str):
    engine = opa_bindings.OpaEngine()
    try:
        return ("value", _solutions(engine.eval_query(f"x := {text}")))
    except opa_bindings.OpaUndefinedError:
        return ("value", [])
    except opa_bindings.OpaError as e:
        m = re.search(r"(rego_type_error|eval_type_error|eval_builtin_error|rego_parse_error)", e.message)
        return ("error", m.group(1) if m else e.code)
    finally:
        engine.close()


def _ours(text: str):
    try:
        return ("value", _solutions(query([], f"x := {text}", strict=True)))
    except PolicyError as e:
        return ("error", e.code)


def test_every_drawn_builtin_is_supported():
    assert set(OPERANDS) <= set(BUILTINS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls())
def test_builtin_calls_answer_as_opa(call):
    name, text = call
    ours = _ours(text)
    if ours == ("error", "unsupported"):  # (OPA is not asked: some of these never return there)
        event("refused")
        return
    theirs = _opa(text)
    event(f"{name}: {theirs[0]}")
    if theirs[0] == "error" and ours[0] == "error":
        # a builtin error and a type error at evaluation both make the call undefined
        # without strict errors; only a type error at load must match exactly
        assert (theirs[1] == "rego_type_error") == (ours[1] == "rego_type_error"), f"{text}: {ours} vs {theirs}"
        return
    assert ours == theirs, f"{text}:\n ours: {ours}\n  opa: {theirs}"


# The families of issue 15's second pass, drawn more often than among all the others.
_SECOND_PASS = tuple(n for n in OPERANDS if n.startswith((
    "regex.", "net.", "time.", "json.patch", "json.filter", "json.remove", "json.marshal_with", "yaml.", "io.jwt.",
    "uuid.", "graph.reachable_paths", "cast_", "re_match")))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=calls(_SECOND_PASS))
def test_second_pass_builtins_answer_as_opa(call):
    test_builtin_calls_answer_as_opa.hypothesis.inner_test(call)


@pytest.mark.parametrize("text", [
    'units.parse("1.1Ki")', 'units.parse_bytes("1e-2KB")', 'strings.split_n("a.b.c", ".", -2)',
    'json.marshal({"b": {1, 2}, "a": "<&>"})', 'json.unmarshal("[1.50, -0]")', 'base64url.decode("YT8")',
    'urlquery.encode_object({"b": ["1", "2"], "a": {"x"}})', 'object.subset([1, 2, 1, 2, 3], [1, 2, 3])',
    'strings.replace_n({"aa": "1", "a": "2"}, "aaa")', 'bits.and(1e20, 1)', 'object.subset([], set())',
    'regex.find_n("a*", "baaa", -1)', 'regex.replace("abc", "x*", "-")', 'regex.split("a", "banana")',
    'regex.replace("abc", "(b)", "$1x${1}x$$x$")', 'regex.is_valid("a{1001}")',
    'net.cidr_merge(["1.2.3.4", "130.2.3.4/15", "10.0.0.0/24", "10.0.1.0/24", "::1/128"])',
    'net.cidr_contains_matches({"a": "10.0.0.0/8", "b": ["192.168.0.0/16", 1]}, ["10.1.2.3", "192.168.1.1"])',
    'time.format([1500000000123456000, "Europe/Paris", "Mon, 02 Jan 2006 15:04:05.999 MST -07:00 Z07 _2 002 pm"])',
    'time.parse_ns("Mon Jan _2 3:04:05PM 2006", "Tue Feb  3 1:02:03AM 2009")', 'time.parse_duration_ns("-1.5h.5us")',
    'time.diff([1, "America/New_York"], 1e18)', 'time.add_date(1585852421593912000, -1, 13, 40)',
    'json.patch({"a": [1, 2]}, [{"op": "move", "from": "/a/0", "path": "/a/-"}])',
    'json.remove({"a": [{"b": 1, "c": 2}, 3], "d": {"x"}}, ["a/0/b", ["d", "x"]])',
    'json.marshal_with_options({"a": [1, {}], "b": []}, {"prefix": ">"})',
    'yaml.unmarshal("y: n\nb: [010, 0x1F, 1.50, 09]\nc: |\n  t\n")', 'uuid.parse("000003e8-48b9-21ee-b200-325096b39f47")',
    'graph.reachable_paths({"a": ["b", "c"], "b": ["a"], "c": []}, ["a", "x"])', 'cast_array({2, 1})',
    'yaml.marshal({"a10": [{"x": {1, 2}}, []], "a2": {"b": {}}, "_": "y", "A": "a: b", "a_": ["-a", "\'q", 18446744073709551615]})',
    # base64url.decode pads by length before line breaks are skipped: "\n" alone is refused
    'base64url.decode("\\n")', 'base64url.decode("YQ\\n")', 'base64url.decode("YQ=\\n=")', 'base64url.decode("YWJj\\n")',
    # json.patch's array indexes: zeros after a point, a sign, an empty integer part
    'json.patch([1, 2], [{"op": "add", "path": "/1.0", "value": 9}])',
    'json.patch([1, 2], [{"op": "add", "path": ["1."], "value": 9}])',
    'json.patch([1, 2], [{"op": "remove", "path": "/-0"}])', 'json.patch([1, 2], [{"op": "add", "path": "/.", "value": 9}])',
    'json.patch([1, 2], [{"op": "replace", "path": [1.0], "value": 9}])',
    'json.patch([1, 2], [{"op": "add", "path": [0.0], "value": 9}])',
    'json.patch([1, 2], [{"op": "add", "path": "/0.0", "value": 9}])',
    'json.patch([1, 2], [{"op": "add", "path": [1e0], "value": 9}])',
    'json.patch([1, 2], [{"op": "add", "path": "/1.5", "value": 9}])',
    # keys of one JSON text are written once
    'json.marshal({{0.0}: "v1", [0.0]: "v2"})', 'json.marshal({[]: 1, set(): 2, {}: 3})',
    # yaml.marshal writes numbers go-yaml reads as floats as Go's shortest %g: zeros keep
    # the sign of a float (-0.0) and lose an int's (-0)
    'yaml.marshal([0.0, -0.0, -0, 0e10, -0.0e-3, 0.0 * 1, -1 * 0.0, to_number("-0.0")])',
    'yaml.marshal([1e6, 123456.5, 1234567.0, 1e-5, 0.0001, 1.5e300, 99999999999999999999999, 0.1, 2.5e-7])',
    'yaml.marshal([18446744073709551616, -9223372036854775809, 1e21, 1e5, 5e-324, 1e-400, 1/3, 12345.678e2])',
    'yaml.marshal({"a": 1.0, "b": {"c": [2.50, 1.7976931348623157e308]}})',
])
def test_known_corners_answer_as_opa(text):
    assert _ours(text) == _opa(text)
