"""Hand-built compare reports and hypothesis strategies for the classify, gate and
report tests (no tests here).

They stand in for the compare engine's output: classification empty, `by_class` empty,
every discrepancy unclassified and the gate decided by "no discrepancy" only.
"""

from __future__ import annotations

import datetime

from hypothesis import strategies as st

from policydiff.classify import MATCH_KEYS, parse_rules
from policydiff.results import (
    CLASSES,
    DIRECTIONS,
    Cell,
    CompareReport,
    Discrepancy,
    Gate,
    PolicyInfo,
    Summary,
)

FLIP = {"v2_more_restrictive": ("allow", "deny"), "v2_more_permissive": ("deny", "allow")}


def disc(role: str, action: str, relation: str, direction: str = "v2_more_restrictive", *,
         tenant: str = "*", v2_rules: tuple[str, ...] = ("policies/rbac_v2.rego:41",),
         v1_rules: tuple[str, ...] = ()) -> Discrepancy:
    v1, v2 = FLIP[direction]
    return Discrepancy(
        tenant=tenant, role=role, action=action, relation=relation, direction=direction,
        v1=v1, v2=v2, v1_rules=v1_rules, v2_rules=v2_rules,
        witness={"subject": {"id": "u-1", "enterprise": "ent-a", "role": role, "teams": ["t-1"]},
                 "action": action,
                 "resource": {"id": "p-1", "kind": "project", "enterprise": "ent-a",
                              "team": "t-2"}})


def report(*ds: Discrepancy, cells: int | None = None, extra_cells: tuple[Cell, ...] = (),
           complete: bool = True, v2_path: str = "policies/rbac_v2.rego") -> CompareReport:
    """A report over `ds`; `cells` is the matrix size (default: 1000, a 0.1 % rate per
    discrepancy), `extra_cells` agreeing cells to list besides the discrepant ones."""
    n = 1000 if cells is None else cells
    keyed = {d.key: Cell(tenant=d.tenant, role=d.role, action=d.action, relation=d.relation,
                         v1=d.v1, v2=d.v2) for d in ds}
    return CompareReport(
        v1=PolicyInfo(path="policies/rbac_v1.rego", sha256="a" * 64, decision="data.rbac.v1.allow"),
        v2=PolicyInfo(path=v2_path, sha256="b" * 64, decision="data.rbac.v2.allow"),
        summary=Summary(
            cells=n, discrepancies=len(ds),
            v2_more_permissive=sum(d.direction == "v2_more_permissive" for d in ds),
            v2_more_restrictive=sum(d.direction == "v2_more_restrictive" for d in ds),
            unclassified=len(ds), discrepancy_rate=len(ds) / n if n else 0.0, complete=complete),
        discrepancies=tuple(ds),
        gate=Gate(passed=not ds),
        cells=(*keyed.values(), *extra_cells) if extra_cells else (),
    )


# -- hypothesis strategies --------------------------------------------------------------

words = st.sampled_from(["viewer", "admin", "billing:read", "project:x", "ent-a", "own_team",
                         "other_team", "enterprise"])
globs = st.one_of(words, st.sampled_from(["*", "billing:*", "*_team", "?iewer", "[ab]*"]))


GLOBS = {"direction": st.sampled_from(DIRECTIONS),
         "relation": st.sampled_from(["*", "*_team", "own_team", "enterprise"])}


@st.composite
def rule_files(draw):
    """Valid rule files: a random header and up to six rules over `words` and globs."""
    lines = [
        "version: 1",
        f"allow_loosening: {draw(st.sampled_from(['false', 'true']))}",
        f"blocking: [{', '.join(draw(st.lists(st.sampled_from(CLASSES), unique=True)))}]",
        f"max_discrepancy_rate: {draw(st.sampled_from([0.01, 0.05, 0.5, 1]))}",
        "rules:",
    ]
    for i in range(draw(st.integers(0, 6))):
        keys = draw(st.lists(st.sampled_from(MATCH_KEYS), min_size=1, max_size=3, unique=True))
        match = ", ".join(f'{k}: "{draw(GLOBS.get(k, globs))}"' for k in keys)
        cls = draw(st.sampled_from(CLASSES))
        lines.append(f"  - {{id: r{i}, class: {cls}, match: {{{match}}}, reason: x}}")
    return parse_rules("\n".join(lines) + "\n", "gen.yaml", today=datetime.date(2026, 11, 27))


discrepancies = st.builds(
    disc, role=words, action=words,
    relation=st.sampled_from(["own_team", "other_team", "enterprise", "other_enterprise"]),
    direction=st.sampled_from(DIRECTIONS), tenant=st.sampled_from(["*", "ent-a", "ent-b"]))
