"""Is `policydiff compare` exact? Brute force with real OPA over a finite input space.

An input space names, per input path, the finite values to try (`ABSENT` leaves the
path out); `inputs(space)` is every input of their product. `check(...)` decides each
input with real OPA under both policies, runs `policydiff compare` on the pair (the CLI,
in-process, JSON report) and returns what is wrong with compare's answer:

- a reported witness that OPA does not decide as the report says;
- an input OPA decides differently under v1 and v2 that lies in no reported cell of
  that direction, while the report says `complete` or the gate passes — compare either
  finds every difference or says it has not proved them and blocks;
- an input whose decisions contradict the verdicts compare gives its cell (a cell
  said `deny` for v1 holding an input v1 allows), on the same condition;
- a report that is not `complete` while the gate passes.

An input's cell is found as compare labels cells, by `policydiff.matrix.Space.cell_of`.
The classification file `check` passes accepts every discrepancy compare reports (an
expected loosening or tightening, any rate), so the gate blocks only for what compare
could not prove, and "blocks" means blocking for incompleteness, not for the
differences it found (a gate blocked only by the discrepancy rate, which the rule file
cannot lift above 100 %, counts as passed).

OPA here runs with strict builtin errors (`opa_bindings` has no other mode); where it
raises one, the decision is read as OPA's default mode reads it, from policydiff's own
evaluator without `strict` (`tests/test_differential.py` checks the two modes against
OPA). Any other error (a conflict) is a deny, as the runbook reads "not `true`".
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from engines import EngineError, OpaEngine

from policydiff import PolicyError, load_policy
from policydiff.analysis import analyze_policies
from policydiff.cli import main as cli
from policydiff.cli.compare import _data as data_document
from policydiff.diff import diff as symbolic
from policydiff.matrix import Space, dimensions

ABSENT = "$absent"

ACCEPT_ALL = """\
version: 1
allow_loosening: true
blocking: []
max_discrepancy_rate: 1
rules:
  - id: found-loosening
    class: expected_loosening
    match: {direction: v2_more_permissive}
    reason: exactness tests accept every difference compare finds
  - id: found-tightening
    class: expected_tightening
    match: {direction: v2_more_restrictive}
    reason: exactness tests accept every difference compare finds
"""

# Honest exit-2 answers: compare refused, which is never a pass (but proves nothing).
REFUSALS = (": unsupported: ", ": matrix_too_large: ")

PERMISSIVE, RESTRICTIVE = "v2_more_permissive", "v2_more_restrictive"


def inputs(space: Mapping[str, Sequence[Any]]) -> Iterator[dict]:
    """Every input of the product of `space` (dotted paths to values)."""
    paths = [tuple(p.split(".")) for p in space]
    for combo in itertools.product(*space.values()):
        doc: dict = {}
        for path, value in zip(paths, combo):
            if value == ABSENT:
                continue
            node = doc
            for k in path[:-1]:
                node = node.setdefault(k, {})
                if not isinstance(node, dict):
                    break
            else:
                node[path[-1]] = value
        yield doc


def size(space: Mapping[str, Sequence[Any]]) -> int:
    n = 1
    for values in space.values():
        n *= len(values)
    return n


@dataclass
class Result:
    exit_code: int
    report: dict | None
    differing: int = 0  # inputs OPA decides differently
    missed: list = field(default_factory=list)  # (input, cell, direction) not reported
    contradicted: list = field(default_factory=list)  # (input, cell, verdicts, OPA's decisions)
    failures: list[str] = field(default_factory=list)
    refused: str = ""  # compare's diagnostic when it exited 2


def _data_doc(specs: Sequence[str]) -> dict | None:
    doc: dict = {}
    for spec in specs:
        part = data_document(spec)
        if isinstance(part, str):
            part = json.loads(Path(part).read_text())
        doc = _merge(doc, part)
    return doc or None


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


class _Truth:
    """One policy under OPA, with the non-strict reading of strict builtin errors."""

    def __init__(self, path: Path, decision: str, data: dict | None, specs: Sequence[str]):
        self.opa = OpaEngine({str(path): path.read_text()}, data)
        self.ref = decision
        self._path, self._specs = path, specs
        self._lenient = None

    def allows(self, inp: dict) -> bool:
        try:
            return self.opa.evaluate(self.ref, inp) is True
        except EngineError as e:
            if "eval_type_error" not in str(e) and "eval_builtin_error" not in str(e):
                return False
            if self._lenient is None:
                self._lenient = load_policy([str(self._path), *[data_document(s) for s in self._specs]],
                                            decision=self.ref)
            try:
                return self._lenient.allows(inp)
            except PolicyError:
                return False


def check(v1: Path, v2: Path, *, decision: str, dims: Sequence[str], data: Sequence[str],
          space: Iterator[dict] | Sequence[dict], workdir: Path, max_missed: int = 5) -> Result:
    """Compare `v1` with `v2` and hold the answer against OPA over `space`."""
    args = ["compare", str(v1), str(v2), "--decision", decision, "--format", "json"]
    for d in dims:
        args += ["--dimension", d]
    for d in data:
        args += ["--data", d]
    rules = workdir / "accept-all.yaml"
    rules.write_text(ACCEPT_ALL)
    out = workdir / "report.json"
    out.unlink(missing_ok=True)
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli([*args, "--classifications", str(rules), "--output", str(out)])
    report = json.loads(out.read_text()) if out.exists() else None
    result = Result(exit_code=code, report=report)
    if report is None:
        result.refused = err.getvalue().strip()
        return result

    doc = _data_doc(data)
    t1, t2 = _Truth(v1, decision, doc, data), _Truth(v2, decision, doc, data)
    try:
        # witnesses: each must differ under OPA as the report says
        for d in report["discrepancies"]:
            w = d["witness"]
            got = (t1.allows(w), t2.allows(w))
            want = (False, True) if d["direction"] == PERMISSIVE else (True, False)
            if got != want:
                result.failures.append(f"witness of {_cell(d)} {d['direction']} is decided "
                                       f"{_verdicts(got)} by OPA: {_json(w)}")
        # every difference OPA sees lies in a reported cell of its direction
        spec = [*data]
        p1 = load_policy([str(v1), *[data_document(s) for s in spec]], decision=decision)
        p2 = load_policy([str(v2), *[data_document(s) for s in spec]], decision=decision)
        cells = Space(analyze_policies(p1, p2), dimensions(list(dims)))
        reported = {(_cell(d), d["direction"]) for d in report["discrepancies"]}
        # the JSON report leaves the cells out; the library gives the same ones
        verdicts = {(c.tenant, c.role, c.action, c.relation): (c.v1, c.v2)
                    for c in symbolic(p1, p2, dims=dimensions(list(dims))).cells}
        for inp in space:
            a1, a2 = t1.allows(inp), t2.allows(inp)
            key = cells.cell_of(inp)
            # an input in no cell compare decided (a dimension holding an object) matters
            # only where the versions differ, below
            verdict = verdicts.get(tuple(key)) if key is not None else None
            if verdict is not None and not all(v == "mixed" or (v == "allow") == a
                                               for v, a in zip(verdict, (a1, a2))):
                result.contradicted.append((inp, key, verdict, (a1, a2)))
            if a1 == a2:
                continue
            result.differing += 1
            direction = PERMISSIVE if a2 else RESTRICTIVE
            if key is None or (tuple(key), direction) not in reported:
                result.missed.append((inp, key, direction))
    finally:
        t1.opa.close()
        t2.opa.close()
    # The accepting rule file cannot lift the rate limit above 100 %, and small matrices
    # often differ in every cell: a gate that blocks on the rate alone has not blocked
    # for what compare left unproved.
    reasons = report["gate"]["reasons"]
    passed = report["gate"]["passed"] or all(r.startswith("discrepancy rate") for r in reasons)
    complete = report["summary"]["complete"]
    if result.missed and (complete or passed):
        said = "complete" if complete else "incomplete"
        shown = "; ".join(f"{_json(i)} ({direction}) in cell {k}"
                          for i, k, direction in result.missed[:max_missed])
        result.failures.append(
            f"{len(result.missed)} of {result.differing} inputs OPA decides differently lie in no "
            f"reported cell of their direction, and the report says {said} with the gate "
            f"{'passed' if passed else 'blocked'} (exit {code}); e.g. {shown}")
    if result.contradicted and (complete or passed):
        shown = "; ".join(f"{_json(i)} in cell {k} decided {_verdicts(got)} by OPA, "
                          f"compare's verdict {'/'.join(v)}"
                          for i, k, v, got in result.contradicted[:max_missed])
        result.failures.append(
            f"{len(result.contradicted)} inputs contradict the v1/v2 verdict compare gives "
            f"their cell, and the report says {'complete' if complete else 'incomplete'} "
            f"with the gate {'passed' if passed else 'blocked'} (exit {code}); e.g. {shown}")
    if not complete and passed:
        result.failures.append(
            f"the report is not complete ({'; '.join(report['summary'].get('incomplete_reasons', []))}) "
            f"and the gate did not block for it (exit {code}, reasons: {reasons})")
    return result


def _cell(d: Mapping) -> tuple:
    return (d["tenant"], d["role"], d["action"], d["relation"])


def _verdicts(got: tuple[bool, bool]) -> str:
    return "/".join("allow" if a else "deny" for a in got)


def _json(v: Any) -> str:
    return msgspec.json.encode(v, order="sorted").decode()
