"""Independent Rego engines that policydiff's evaluator is checked against.

`RegopyEngine` wraps rego-cpp (`regopy`), `OpaEngine` wraps real OPA running
in-process (`opa_bindings`). Both take the modules and the data once, build one engine
and reuse it for every evaluation; `evaluate(ref, input)` returns the JSON value of the
document at `ref` (e.g. `data.rbac.v1.allow`) or `UNDEFINED`. A policy an engine cannot
load or a query it fails raises `EngineError`, so tests can tell "refused" from
"decided".

Values are normalised the way OPA serialises them: sets become sorted arrays, so one
engine's answer can be compared with another's by `==` after `normalize`.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import opa_bindings


class _Undefined:
    """The marker for an undefined document (distinct from `false` and `null`)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class EngineError(Exception):
    """An engine refused a policy or failed a query."""


def normalize(value: Any) -> Any:
    """A canonical JSON form: sets and frozensets become sorted lists, tuples lists,
    and integral floats ints (OPA and rego-cpp print `2.0` differently)."""
    if value is UNDEFINED:
        return value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((normalize(v) for v in value), key=_order)
    if isinstance(value, (list, tuple)):
        return [normalize(v) for v in value]
    raise TypeError(f"not a JSON value: {value!r}")


def _order(value: Any) -> tuple:
    """OPA's sort order across types: null < bool < number < string < array < object."""
    match value:
        case None:
            return (0, 0)
        case bool():
            return (1, value)
        case int() | float():
            return (2, value)
        case str():
            return (3, value)
        case list():
            return (4, [_order(v) for v in value])
        case dict():
            return (6, sorted((k, _order(v)) for k, v in value.items()))
    raise TypeError(f"not a JSON value: {value!r}")


def _ref_path(ref: str) -> str:
    if not ref.startswith("data."):
        raise ValueError(f"expected a `data.` reference, got {ref!r}")
    return ref[len("data.") :]


class RegopyEngine:
    """rego-cpp, through `regopy.Interpreter`, built once per policy set.

    The interpreter runs in a child process (`python engines.py`): rego-cpp aborts or
    segfaults on some inputs (e.g. `binding()` on an undefined result, or the OPAL
    example policy), and a crash must fail one evaluation, not the test run. After a
    crash every further evaluation raises `EngineError`.
    """

    name = "regopy"

    def __init__(self, modules: Mapping[str, str], data: Any = None):
        self._proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        reply = self._ask({"modules": dict(modules), "data": data})
        if "error" in reply:
            self.close()
            raise EngineError(f"regopy: {reply['error']}")

    def _ask(self, message: dict) -> dict:
        if self._proc.poll() is not None:
            raise EngineError(f"regopy: interpreter exited with {self._proc.returncode}")
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise EngineError(f"regopy: interpreter crashed ({self._proc.wait()})")
        return json.loads(line)

    def evaluate(self, ref: str, input: Any = None) -> Any:
        _ref_path(ref)
        reply = self._ask({"ref": ref, "input": input})
        if "error" in reply:
            raise EngineError(f"regopy: {reply['error']}")
        return UNDEFINED if reply.get("undefined") else normalize(reply["value"])

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait()

    def __del__(self):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # gone already, or never started
            self.close()


def _regopy_serve(lines, write) -> None:
    """The child side of `RegopyEngine`: one JSON request per line, one reply per line."""
    import regopy

    rego = regopy.Interpreter()
    for line in lines:
        msg = json.loads(line)
        try:
            if "modules" in msg:
                if msg["data"] is not None:
                    rego.add_data_json(json.dumps(msg["data"]))
                for name, text in msg["modules"].items():
                    rego.add_module(name, text)
                reply: dict = {"ok": True}
            else:
                if msg["input"] is not None:
                    rego.set_input_term(json.dumps(msg["input"]))
                # Bind the document to a variable: a bare ref that evaluates to `false`
                # reads as "no result" in rego-cpp's output.
                out = rego.query(f"x := {msg['ref']}")
                text = str(out)
                if not out.ok():
                    reply = {"error": text}
                elif text == "undefined":
                    # Never call `binding()` here: on an undefined result rego-cpp aborts.
                    reply = {"undefined": True}
                else:
                    results = json.loads(text)
                    if isinstance(results, list):  # one object per solution
                        results = results[0] if len(results) == 1 else {"error": text}
                    reply = {"value": results["bindings"]["x"]}
        except (regopy.RegoError, ValueError, KeyError) as e:  # ValueError: unreadable error output
            reply = {"error": f"{type(e).__name__}: {e}"}
        write(json.dumps(reply) + "\n")


class OpaEngine:
    """Real OPA (1.x, Rego v1 syntax), through `opa_bindings.OpaEngine`."""

    name = "opa"

    def __init__(self, modules: Mapping[str, str], data: Any = None):
        self._opa = opa_bindings.OpaEngine()
        try:
            if data is not None:
                self._opa.add_data(data)
            for name, text in modules.items():
                self._opa.add_policy(name, text)
            # OPA compiles (and type-checks) lazily, on the first query: do it now, so
            # that a module OPA rejects is refused here and not at some evaluation.
            self._opa.eval_query("true")
        except opa_bindings.OpaError as e:
            raise EngineError(f"opa: {e}") from None

    def evaluate(self, ref: str, input: Any = None) -> Any:
        try:
            return normalize(self._opa.eval_document(_ref_path(ref), input))
        except opa_bindings.OpaUndefinedError:
            return UNDEFINED
        except opa_bindings.OpaError as e:
            raise EngineError(f"opa: {e}") from None

    def close(self) -> None:
        self._opa.close()


def decision(value: Any) -> bool:
    """The runbook's reading of a decision: `true` allows, anything else denies."""
    return value is True


def tenancy_differences(tenancy, o1: OpaEngine, o2: OpaEngine, query: str) -> set:
    """The (cell, direction) of every request of `tenancy` on which OPA decides `query`
    differently under v1's engine `o1` and v2's `o2`, cells keyed as reports key them."""
    from policydiff.tenancy import relation, request_input

    out = set()
    for u, a, r in tenancy.requests():
        inp = request_input(u, a, r)
        d1, d2 = decision(o1.evaluate(query, inp)), decision(o2.evaluate(query, inp))
        if d1 != d2:
            out.add(((u.enterprise, u.role, a, relation(u, r)), "v2_more_permissive" if d2 else "v2_more_restrictive"))
    return out


def default_mode_decisions(engines, inp: Any, query: str = "data.p.allow") -> tuple[bool, ...]:
    """The decisions of `query` on `inp`, one per `(OpaEngine, policydiff Policy)` pair in
    `engines`, as OPA's default mode gives them. opa_bindings runs OPA with strict builtin
    errors; where it halts on a type or builtin error, which default mode reads as
    undefined, the policy's own default-mode answer stands in."""
    out = []
    for engine, ours in engines:
        try:
            out.append(decision(engine.evaluate(query, inp)))
        except EngineError as e:
            assert "eval_type_error" in str(e) or "eval_builtin_error" in str(e), e
            out.append(ours.allows(inp))
    return tuple(out)


def assert_exact_or_blocks(report, opa, inputs, *, named=lambda reason: ":" in reason) -> None:
    """compare's `report` held against OPA brute force: `opa` gives (v1 allows, v2 allows)
    for an input (`default_mode_decisions`), `inputs` is the space tried. Every witness
    differs under OPA as reported; a complete report names every direction some input
    shows, and OPA halting on a conflict means it cannot have been proved; an incomplete
    one blocks the gate with every reason `named` (a rule's `file:line`, a construct)."""
    for d in report.discrepancies:
        assert opa(d.witness) == (d.v1 == "allow", d.v2 == "allow"), d.witness
    seen = set()
    for inp in inputs:
        try:
            a1, a2 = opa(inp)
        except AssertionError as e:  # OPA halts on a conflict: compare cannot have proved the cell
            assert "eval_conflict_error" in str(e) and not report.summary.complete, e
            continue
        if a1 != a2:
            seen.add("v2_more_permissive" if a2 else "v2_more_restrictive")
    if report.summary.complete:
        assert seen <= {d.direction for d in report.discrepancies}, seen
    else:
        assert not report.gate.passed
        assert all(named(r) for r in report.summary.incomplete_reasons), report.summary.incomplete_reasons


class Refused(EngineError):
    """policydiff declined a policy or a query; `code` is its diagnostic code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"policydiff: {code}: {message}")
        self.code = code


class PolicydiffEngine:
    """policydiff's own evaluator, behind the same interface as the others.

    One module goes through `load_policy` and `Policy.evaluate`; several (a policy
    that calls into another package) through `query`. A `PolicyError` from loading or
    evaluating becomes `Refused` with its code, so a test can require that a refusal
    is an honest `unsupported` and not a crash."""

    name = "policydiff"

    def __init__(self, modules: Mapping[str, str], data: Any = None, *, strict: bool = True):
        import policydiff

        self._pd = policydiff
        # `OpaEngine` runs OPA with strict builtin errors; so, by default, does this one.
        self._strict = strict
        self._modules = list(modules.values())
        self._data = data
        self.policy = None
        try:
            if len(self._modules) == 1:
                self.policy = policydiff.load_policy(self._modules[0], data=data)
            else:
                policydiff.query(self._modules, "true", data=data)
        except policydiff.PolicyError as e:
            raise Refused(e.code, str(e)) from None

    def evaluate(self, ref: str, input: Any = None) -> Any:
        try:
            if self.policy is not None:
                value = self.policy.evaluate(input, ref=ref, strict=self._strict)
            else:
                rows = self._pd.query(self._modules, f"x := {ref}", input=input, data=self._data,
                                      strict=self._strict)
                value = rows[0]["x"] if rows else self._pd.UNDEFINED
        except self._pd.PolicyError as e:
            raise Refused(e.code, str(e)) from None
        return UNDEFINED if value is self._pd.UNDEFINED else normalize(value)


if __name__ == "__main__":
    # rego-cpp prints diagnostics on file descriptor 1 itself; keep the protocol on a
    # private copy of stdout and send everything else written to fd 1 to /dev/null.
    import os

    _replies = os.fdopen(os.dup(1), "w")
    _null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(_null, 1)

    def _write(text: str) -> None:
        _replies.write(text)
        _replies.flush()

    _regopy_serve(sys.stdin, _write)
