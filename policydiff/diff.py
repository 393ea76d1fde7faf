"""The symbolic diff: both policies decided on every class combination of the matrix.

`diff(v1, v2)` analyses both policies together (`policydiff.analysis`), builds the
class space (`policydiff.matrix`) and evaluates each policy once per class
combination — on a representative input in the symbolic matrix, on one concrete
request per combination with a tenancy (`policydiff.matrix.realise`). Each cell's
verdict is `allow`, `deny` or `mixed` over all its requests; each (cell, direction)
where v2 decides differently is a `Discrepancy` with a witness request and the
`file:line` of the rules that decided it in each policy.

The report comes out unclassified, with the plain gate "passed iff no discrepancy";
`policydiff.classify` and `policydiff.gate` refine it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from policydiff import search
from policydiff.analysis import ELEM, analyze_policies
from policydiff.compile import UNDEFINED, thaw
from policydiff.errors import Code, InputError, PolicyError
from policydiff.matrix import RUNBOOK, CellKey, Dimensions, Space, realise
from policydiff.matrix.realise import Element, TenantCells
from policydiff.policy import Policy
from policydiff.results import Cell, CompareReport, Discrepancy, Gate, PolicyInfo, Summary
from policydiff.source import Span
from policydiff.tenancy import Tenancy, request_input


class Witness(msgspec.Struct, frozen=True):
    """A request of a cell where the policies differ, and the key its class combination
    shares with the cell's other requests (None in the symbolic matrix, where the
    request is the combination's representative)."""

    request: dict
    group: Any = None


class Row(msgspec.Struct, frozen=True):
    """A row of the matrix: the cell, each policy's verdict, and a witness for each
    direction that differs."""

    cell: CellKey
    v1: str
    v2: str
    loosening: Witness | None  # v2 allows what v1 denies
    tightening: Witness | None


class _Verdicts:
    """What one cell has seen: the decisions of each policy and a witness per direction."""

    __slots__ = ("loosening", "tightening", "v1", "v2")

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


def _decision(seen: set[bool]) -> str:
    if seen == {True}:
        return "allow"
    if seen == {False}:
        return "deny"
    return "mixed"


def policy_info(policy: Policy, path: str | None = None) -> PolicyInfo:
    sources: Mapping[str, str] = getattr(policy, "sources", {}) or {}
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(sources[name].encode())
    name = path or (next(iter(sources)) if sources else "<policy>")
    return PolicyInfo(path=str(name), sha256=digest.hexdigest(), decision=policy.decision)


class _Decider:
    """Both policies on one input, with the rules that decided it."""

    def __init__(self, v1: Policy, v2: Policy):
        self.v1, self.v2 = v1, v2

    def __call__(self, inp: dict) -> tuple[bool, bool]:
        return _allows(self.v1, inp), _allows(self.v2, inp)

    def rules(self, inp: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return _rules(self.v1, inp), _rules(self.v2, inp)


def _allows(policy: Policy, inp: dict) -> bool:
    try:
        value = policy.decide(inp)
    except PolicyError as e:  # name the request: the error is the policy's, on real input
        d = e.diagnostic
        raise PolicyError(msgspec.structs.replace(
            d, help=f"while deciding {msgspec.json.encode(inp).decode()}")) from None
    if value is True:
        return True
    if value is False or value is UNDEFINED:
        return False
    # counting "yes" or {"allowed": true} as deny would pass whatever v2 does
    shown = msgspec.json.encode(thaw(value)).decode()
    raise InputError.at(Code.NON_BOOLEAN_DECISION, f"the decision `{policy.decision}` is {shown[:80]}, "
                        "not a boolean", help=f"for the request {msgspec.json.encode(inp).decode()}; "
                        "compare a rule whose value is true or false (--decision)")


def _rules(policy: Policy, inp: dict) -> tuple[str, ...]:
    _, where = policy.explain(inp)
    return tuple(where)


def diff(v1: Policy, v2: Policy, *, tenancy: Tenancy | None = None, dims: Dimensions = RUNBOOK,
         v1_info: PolicyInfo | None = None, v2_info: PolicyInfo | None = None) -> CompareReport:
    """Compare two loaded policies over the matrix."""
    if tenancy is not None and not dims.runbook:
        raise InputError.at(Code.BAD_DIMENSION, "`--dimension` needs the symbolic matrix: a tenancy "
                            "realises requests of the request model only", Span(file="--dimension"))
    for side, policy in (("V1", v1), ("V2", v2)):
        problem = policy.decision_rule()
        if problem:
            raise InputError.at(Code.BAD_DECISION, f"{side}: {problem}", Span(file=f"--{side.lower()}-decision"),
                                help="name the decision rule with --decision data.<package>.<rule>")
    if tenancy is not None:
        _check_tenancy(tenancy)
    space = Space(analyze_policies(v1, v2), dims)
    decide = _Decider(v1, v2)
    if tenancy is None:
        rows = _symbolic(space, decide)
    else:
        rows = _tenancy(space, tenancy, decide)
        unrealised = _unrealised(space, tenancy)
        if unrealised["role"] or unrealised["action"]:
            # what the tenancy cannot show, the symbolic matrix decides: its cells that
            # differ are reported (tenant `*`); those that agree add nothing to check
            rows += [row for row in _symbolic(space, decide)
                     if (row.cell[1] in unrealised["role"] or row.cell[2] in unrealised["action"])
                     and (row.loosening is not None or row.tightening is not None)]
        if space.outside_model:  # a tenancy's requests never carry them
            space.incomplete.append(
                "tenancy: realises no request with "
                + ", ".join(f"`{_dotted(p)}`" for p in space.outside_model)
                + ", which the policies read outside the request model (compare without a "
                "tenancy decides them)")
    if not rows:
        raise InputError.at(Code.NO_CELLS, "the comparison decides no cell, so it proves nothing",
                            help="check the tenancy and the --dimension flags")
    return _report(space, rows, decide,
                   v1_info or policy_info(v1), v2_info or policy_info(v2))


def _check_tenancy(tenancy: Tenancy) -> None:
    """A tenancy without users, resources or actions realises no request: bad input."""
    empty = [name for name in ("users", "resources", "actions") if not getattr(tenancy, name)]
    if empty:
        raise InputError.at(Code.EMPTY_TENANCY, f"the tenancy has no {' and no '.join(empty)}, "
                            "so it realises no request", help="seed it (`policydiff db seed`) "
                            "or compare without a tenancy")


def _unrealised(space: Space, tenancy: Tenancy) -> dict[str, set[str]]:
    """Roles and actions the policies compare with that no request of the tenancy
    carries: the tenancy cannot show what v2 does with them."""
    have = {"role": {u.role for u in tenancy.users}, "action": set(tenancy.actions)}
    out: dict[str, set[str]] = {}
    for name, path in (("role", space.dims.role), ("action", space.dims.action)):
        cs = space.class_of.get(path) if path is not None else None
        named = {v for v in (cs.cls.constants if cs else ()) if isinstance(v, str)}
        out[name] = named - have[name]
    return out


def _symbolic(space: Space, decide: _Decider) -> list[Row]:
    cells: dict[CellKey, _Verdicts] = {}
    found = search.representatives(space, decide.v1, decide.v2)  # None: enumerate every combination
    for key, inp in found if found is not None else space.representatives():
        a1, a2 = decide(inp)
        st = cells.get(key)
        if st is None:
            st = cells[key] = _Verdicts()
        st.add(a1, a2, Witness(inp))
    return [Row(k, _decision(st.v1), _decision(st.v2), st.loosening, st.tightening)
            for k, st in cells.items()]


def _tenancy(space: Space, tenancy: Tenancy, decide: _Decider) -> list[Row]:
    real = realise(space, tenancy)
    by_element: dict[tuple[Element, str], tuple[bool, bool]] = {}
    row_cache: dict[tuple, list[tuple[str, str, Element | None, Element | None]]] = {}
    rows: list[Row] = []
    for t in real.tenants:
        groups: dict[tuple[str, str], list[Element]] = {}
        for e in t.elements:
            groups.setdefault((e.role, e.relation), []).append(e)
        for (role, rel), elems in groups.items():
            # Tenants whose pairs of this role and relation fall in the same classes
            # share the verdicts: computed once, stamped per tenant.
            ck = (role, rel, frozenset(elems))
            verdicts = row_cache.get(ck)
            if verdicts is None:
                verdicts = row_cache[ck] = _verdicts(t, elems, real.actions, by_element, decide)
            # keyed by `Space.cell_of` as replay and analyze key a request: one request
            # of the group with each action
            u, r = t.pairs[elems[0]]
            keys = space.cells_of(request_input(u, "", r), real.actions)
            for key, action, (d1, d2, loose, tight) in zip(keys, real.actions, verdicts):
                rows.append(Row(key, d1, d2,
                             _pair_request(t, loose, action) if loose is not None else None,
                             _pair_request(t, tight, action) if tight is not None else None))
    return rows


def _verdicts(t: TenantCells, elems: list[Element], actions: tuple[str, ...], by_element: dict,
              decide: _Decider) -> list[tuple[str, str, Element | None, Element | None]]:
    out = []
    for action in actions:
        st = _Verdicts()
        for e in elems:
            k = (e, action)
            if k not in by_element:
                u, r = t.pairs[e]
                by_element[k] = decide(request_input(u, action, r))
            a1, a2 = by_element[k]
            st.add(a1, a2, e)
        out.append((_decision(st.v1), _decision(st.v2), st.loosening, st.tightening))
    return out


def _pair_request(t: TenantCells, element: Element, action: str) -> Witness:
    u, r = t.pairs[element]
    return Witness(request_input(u, action, r), (element, action))


def _report(space: Space, rows: list[Row], decide: _Decider,
            v1_info: PolicyInfo, v2_info: PolicyInfo) -> CompareReport:
    rows.sort(key=lambda row: row.cell)
    out_cells = []
    discrepancies: list[Discrepancy] = []
    rules_cache: dict[Any, tuple] = {}
    discrepant = 0
    for row in rows:
        tenant, role, action, rel = row.cell
        out_cells.append(Cell(tenant=tenant, role=role, action=action, relation=rel, v1=row.v1, v2=row.v2))
        if row.loosening is None and row.tightening is None:
            continue
        discrepant += 1
        for direction, w, (w1, w2) in (("v2_more_permissive", row.loosening, ("deny", "allow")),
                                       ("v2_more_restrictive", row.tightening, ("allow", "deny"))):
            if w is None:
                continue
            r1, r2 = _explained(decide, w, rules_cache)
            discrepancies.append(Discrepancy(
                tenant=tenant, role=role, action=action, relation=rel, direction=direction,
                v1=w1, v2=w2, witness=w.request, v1_rules=r1, v2_rules=r2,
                attributes=space.attributes_of(w.request)))
    n = len(discrepancies)
    loosening = sum(d.direction == "v2_more_permissive" for d in discrepancies)
    summary = Summary(
        cells=len(out_cells), discrepancies=n, v2_more_permissive=loosening,
        v2_more_restrictive=n - loosening, unclassified=n,
        discrepancy_rate=discrepancy_rate(discrepant, len(out_cells)),
        complete=not space.incomplete, incomplete_reasons=tuple(sorted(set(space.incomplete))),
        unproved_cells=len(out_cells) if space.incomplete else 0,
        outside_model=tuple(_dotted(p) for p in space.outside_model))
    reasons = () if n == 0 else (f"{n} unclassified discrepanc{'y' if n == 1 else 'ies'}",)
    if space.incomplete:
        reasons += (f"{len(out_cells)} unproved cells",)
    return CompareReport(v1=v1_info, v2=v2_info, summary=summary, discrepancies=tuple(discrepancies),
                         gate=Gate(passed=not reasons, reasons=reasons), cells=tuple(out_cells))


def discrepancy_rate(discrepant_cells: int, cells: int) -> float:
    """The fraction of cells with a discrepancy in either direction (a cell that
    differs both ways counts once); 0 for an empty matrix."""
    return discrepant_cells / cells if cells else 0.0


def _explained(decide: _Decider, w: Witness, cache: dict) -> tuple:
    """The deciding rules; requests of one class combination share them."""
    key = w.group if w.group is not None else msgspec.json.encode(w.request, order="sorted")
    if key not in cache:
        cache[key] = decide.rules(w.request)
    return cache[key]


def _dotted(path: tuple[str, ...]) -> str:
    return "input" + "".join("[_]" if p == ELEM else f".{p}" for p in path)
