"""The symbolic diff: both policies decided on every class combination of the matrix.

`diff(v1, v2)` analyses both policies together (`policydiff.analysis`), builds the
class space (`policydiff.matrix`) and evaluates each policy once per class
combination — on a representative input in the symbolic matrix, on one concrete
request per combination with a tenancy (`policydiff.graph.realise`). Each cell's
verdict is `allow`, `deny` or `mixed` over all its requests; each (cell, direction)
where v2 decides differently is a `Discrepancy` with a witness request and the
`file:line` of the rules that decided it in each policy.

The report comes out unclassified, with the plain gate "passed iff no discrepancy";
`policydiff.classify` and `policydiff.gate` refine it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from policydiff.analysis import analyze_policies
from policydiff.errors import PolicyError
from policydiff.matrix import RUNBOOK, Dimensions, Space
from policydiff.results import Cell, CompareReport, Discrepancy, Gate, PolicyInfo, Summary
from policydiff.tenancy import Tenancy, request_input

CellKey = tuple[str, str, str, str]


class _Verdicts:
    """What one cell has seen: the decisions of each policy and a witness per direction."""

    __slots__ = ("v1", "v2", "loosening", "tightening")

    def __init__(self) -> None:
        self.v1: set[bool] = set()
        self.v2: set[bool] = set()
        self.loosening: Any = None  # v2 allows what v1 denies
        self.tightening: Any = None

    def add(self, a1: bool, a2: bool, witness: Any) -> None:
        self.v1.add(a1)
        self.v2.add(a2)
        if a2 and not a1 and self.loosening is None:
            self.loosening = witness
        elif a1 and not a2 and self.tightening is None:
            self.tightening = witness

    def merge(self, other: "_Verdicts") -> None:
        self.v1 |= other.v1
        self.v2 |= other.v2
        self.loosening = self.loosening if self.loosening is not None else other.loosening
        self.tightening = self.tightening if self.tightening is not None else other.tightening


def _decision(seen: set[bool]) -> str:
    if seen == {True}:
        return "allow"
    if seen == {False}:
        return "deny"
    return "mixed"


def policy_info(policy: Any, path: str | None = None) -> PolicyInfo:
    sources: Mapping[str, str] = getattr(policy, "sources", {}) or {}
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(sources[name].encode())
    name = path or (next(iter(sources)) if sources else "<policy>")
    return PolicyInfo(path=str(name), sha256=digest.hexdigest(), decision=policy.decision)


class _Decider:
    """Both policies on one input, with the rules that decided it."""

    def __init__(self, v1: Any, v2: Any):
        self.v1, self.v2 = v1, v2

    def __call__(self, inp: dict) -> tuple[bool, bool]:
        return _allows(self.v1, inp), _allows(self.v2, inp)

    def rules(self, inp: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return _rules(self.v1, inp), _rules(self.v2, inp)


def _allows(policy: Any, inp: dict) -> bool:
    return bool(policy.allows(inp))


def _rules(policy: Any, inp: dict) -> tuple[str, ...]:
    _, where = policy.explain(inp)
    return tuple(where)


def diff(v1: Any, v2: Any, *, tenancy: Tenancy | None = None, dims: Dimensions = RUNBOOK,
         v1_info: PolicyInfo | None = None, v2_info: PolicyInfo | None = None) -> CompareReport:
    """Compare two loaded policies (`policydiff.Policy`) over the matrix."""
    if tenancy is not None and not dims.runbook:
        raise PolicyError.at("bad_dimension", "`--dimension` needs the symbolic matrix: a tenancy "
                             "realises requests of the request model only")
    space = Space(analyze_policies(v1, v2), dims)
    decide = _Decider(v1, v2)
    if tenancy is None:
        cells = _symbolic(space, decide)
    else:
        cells = _tenancy(space, tenancy, decide)
    return _report(space, cells, decide,
                   v1_info or policy_info(v1), v2_info or policy_info(v2))


def _symbolic(space: Space, decide: _Decider) -> dict[CellKey, _Verdicts]:
    cells: dict[CellKey, _Verdicts] = {}
    for key, inp in space.representatives():
        a1, a2 = decide(inp)
        st = cells.get(key)
        if st is None:
            st = cells[key] = _Verdicts()
        st.add(a1, a2, (inp, None))
    return cells


def _tenancy(space: Space, tenancy: Tenancy, decide: _Decider) -> dict[CellKey, _Verdicts]:
    from policydiff.graph import realise

    real = realise(space, tenancy)
    by_element: dict[tuple, tuple[bool, bool]] = {}
    templates: dict[frozenset, dict[tuple[str, str, str], _Verdicts]] = {}
    cells: dict[CellKey, _Verdicts] = {}
    for t in real.tenants:
        template = templates.get(t.elements)
        if template is None:
            template = templates[t.elements] = {}
            for e in t.elements:
                for action in real.actions:
                    k = (e, action)
                    if k not in by_element:
                        u, r = t.pairs[e]
                        by_element[k] = decide(request_input(u, action, r))
                    a1, a2 = by_element[k]
                    st = template.get((e.role, action, e.relation))
                    if st is None:
                        st = template[(e.role, action, e.relation)] = _Verdicts()
                    st.add(a1, a2, (e, action))
        for (role, action, rel), st in template.items():
            # Witnesses are the tenant's own requests of the element that showed the direction.
            own = _Verdicts()
            own.v1, own.v2 = st.v1, st.v2
            if st.loosening is not None:
                own.loosening = _pair_request(t, *st.loosening)
            if st.tightening is not None:
                own.tightening = _pair_request(t, *st.tightening)
            cells[(t.tenant, role, action, rel)] = own
    return cells


def _pair_request(t: Any, element: Any, action: str) -> tuple[dict, Any]:
    u, r = t.pairs[element]
    return request_input(u, action, r), (element, action)


def _report(space: Space, cells: dict[CellKey, _Verdicts], decide: _Decider,
            v1_info: PolicyInfo, v2_info: PolicyInfo) -> CompareReport:
    out_cells = []
    discrepancies: list[Discrepancy] = []
    rules_cache: dict[Any, tuple] = {}
    discrepant = 0
    for key in sorted(cells):
        st = cells[key]
        tenant, role, action, rel = key
        out_cells.append(Cell(tenant=tenant, role=role, action=action, relation=rel,
                              v1=_decision(st.v1), v2=_decision(st.v2)))
        found = False
        for direction, w, (d1, d2) in (("v2_more_permissive", st.loosening, ("deny", "allow")),
                                       ("v2_more_restrictive", st.tightening, ("allow", "deny"))):
            if w is None:
                continue
            found = True
            inp, class_key = w
            r1, r2 = _explained(decide, inp, class_key, rules_cache)
            discrepancies.append(Discrepancy(
                tenant=tenant, role=role, action=action, relation=rel, direction=direction,
                v1=d1, v2=d2, witness=inp, v1_rules=r1, v2_rules=r2,
                attributes=space.attributes_of(inp)))
        discrepant += found
    n = len(discrepancies)
    loosening = sum(d.direction == "v2_more_permissive" for d in discrepancies)
    summary = Summary(
        cells=len(out_cells), discrepancies=n, v2_more_permissive=loosening,
        v2_more_restrictive=n - loosening, unclassified=n,
        discrepancy_rate=discrepancy_rate(discrepant, len(out_cells)),
        complete=not space.incomplete, incomplete_reasons=tuple(sorted(set(space.incomplete))))
    reasons = () if n == 0 else (f"{n} unclassified discrepanc{'y' if n == 1 else 'ies'}",)
    return CompareReport(v1=v1_info, v2=v2_info, summary=summary, discrepancies=tuple(discrepancies),
                         gate=Gate(passed=n == 0, reasons=reasons), cells=tuple(out_cells))


def discrepancy_rate(discrepant_cells: int, cells: int) -> float:
    """The fraction of cells with a discrepancy in either direction (a cell that
    differs both ways counts once); 0 for an empty matrix."""
    return discrepant_cells / cells if cells else 0.0


def _explained(decide: _Decider, witness: dict, class_key: Any, cache: dict) -> tuple:
    """The deciding rules; requests of one class combination share them."""
    key = class_key if class_key is not None else msgspec.json.encode(witness, order="sorted")
    if key not in cache:
        cache[key] = decide.rules(witness)
    return cache[key]


def cells_with(report: CompareReport, direction: str) -> Iterable[CellKey]:
    """The cells of `report` that differ in `direction`."""
    return (d.key for d in report.discrepancies if d.direction == direction)
