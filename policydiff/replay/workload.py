"""The workload: which requests a replay sends, decided before any is sent.

A workload is a sequence of `requests` requests fixed by the tenancy, the traffic
profile and the seed. It is cut into blocks of `BLOCK` requests; block `b` is drawn from
its own random stream (`seed`, `b`), so any process can produce any block, shard `I/N`
owns the blocks `b` with `b % N == I - 1`, and shards of one workload together are the
workload. The first `floor x cells` requests visit every realised cell (coverage), in a
seeded order; every other request draws its cell by the profile's weights. Inside a
cell, the user and the resource are drawn uniformly among the cell's (user, resource)
pairs. Cells are keyed as compare keys a tenancy's cells (`Space.cell_of(...,
concrete=True)`): tenant, role, action, relation.

The tenancy is read once to plan; every request's facts are read again from the
database when it is sent (`policydiff.replay.worker`).
"""

from __future__ import annotations

import bisect
import fnmatch
import hashlib
import random
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from policydiff.documents import decode_text, load_yaml, read_bytes
from policydiff.errors import Code, InputError
from policydiff.source import Span
from policydiff.tenancy import RELATIONS, ROLES, Tenancy, relation, relation_of

BLOCK = 256
DEFAULT_PROFILE = Path(__file__).with_name("profile.yaml")

CellKey = tuple[str, str, str, str]


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Relative weights per role, action (globs allowed) and relation; `default` weighs
    every name not listed. `floor` requests go to every realised cell first."""

    version: int = 1
    floor: int = 1
    roles: dict[str, float] = {}
    actions: dict[str, float] = {}
    relations: dict[str, float] = {}

    def weight(self, role: str, action: str, rel: str) -> float:
        return (_lookup(self.roles, role) * _lookup(self.actions, action, globs=True)
                * _lookup(self.relations, rel))


def _lookup(table: dict[str, float], name: str, *, globs: bool = False) -> float:
    if name in table:
        return table[name]
    if globs:
        for pattern, w in table.items():
            if pattern != "default" and fnmatch.fnmatchcase(name, pattern):
                return w
    return table.get("default", 1.0)


def load_profile(path: str | Path | None, tenancy: Tenancy) -> Profile:
    """The profile at `path` (YAML/JSON, or OPA decision-log JSON lines), else the shipped
    default. A given profile that names a role, action or relation the tenancy does not
    have is bad input."""
    if path is None:
        return msgspec.yaml.decode(DEFAULT_PROFILE.read_bytes(), type=Profile)
    name = str(path)
    raw = read_bytes(path, "profile")
    if name.endswith((".jsonl", ".ndjson", ".log", ".gz")) or raw[:2] == _GZIP or (
            # a profile is a mapping: a JSON array is a log upload (YAML keeps its reader)
            raw.lstrip()[:1] == b"[" and not name.endswith((".yaml", ".yml"))):
        profile = profile_from_decision_log(raw, name)
    else:
        # the reader every YAML file shares: located errors, no alias bombs, bounded depth
        doc = load_yaml(decode_text(raw, name), name)
        if doc.data is None:
            raise InputError.at(Code.INVALID_PROFILE, "the profile is empty", Span(file=name))
        try:
            profile = msgspec.convert(doc.data, type=Profile)
        except msgspec.ValidationError as e:
            raise InputError.at(Code.INVALID_PROFILE, str(e), Span(file=name)) from None
    _check_profile(profile, tenancy, name)
    return profile


def _check_profile(p: Profile, tenancy: Tenancy, name: str) -> None:
    roles = set(ROLES) | {u.role for u in tenancy.users}
    problems = []
    for r in p.roles:
        if r != "default" and r not in roles:
            problems.append(f"unknown role `{r}` - at `$.roles`")
    for a in p.actions:
        if a != "default" and not any(fnmatch.fnmatchcase(x, a) for x in tenancy.actions):
            problems.append(f"action `{a}` matches no action of the tenancy - at `$.actions`")
    for rel in p.relations:
        if rel != "default" and rel not in RELATIONS:
            problems.append(f"unknown relation `{rel}` - at `$.relations`")
    for section in (p.roles, p.actions, p.relations):
        for k, w in section.items():
            if not w >= 0:
                problems.append(f"weight of `{k}` must be a number >= 0")
    if p.floor < 0:
        problems.append("`floor` must be >= 0")
    if problems:
        raise InputError.at(Code.INVALID_PROFILE, "; ".join(problems), Span(file=name))


def profile_from_decision_log(raw: bytes, name: str = "<decision log>") -> Profile:
    """A profile whose weights are the counts of roles, actions and relations in OPA
    decision-log events, the request in each one's `input`: one JSON object a line (OPA's
    console and file loggers, `ShadowAuthorizer`'s log), or the JSON array of events OPA
    uploads to a decision-log service, gzip-compressed or not."""
    roles: dict[str, float] = defaultdict(float)
    actions: dict[str, float] = defaultdict(float)
    relations: dict[str, float] = defaultdict(float)
    for where, event in _events(raw, name):
        try:
            inp = msgspec.json.decode(event)["input"] if isinstance(event, bytes) else event["input"]
            subject, resource = inp["subject"], inp["resource"]
            roles[subject["role"]] += 1
            actions[inp["action"]] += 1
            relations[relation_of(subject.get("enterprise"), subject.get("teams"),
                                  resource.get("enterprise"), resource.get("team"))] += 1
        except (msgspec.DecodeError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise InputError.at(Code.INVALID_DECISION_LOG, f"not a decision-log entry of the request "
                                f"model ({_why(e)})", where) from None
    if not roles:
        raise InputError.at(Code.INVALID_DECISION_LOG, "no decision-log entries", Span(file=name))
    zero = {"default": 0.0}
    return Profile(roles={**zero, **roles}, actions={**zero, **actions},
                   relations={**zero, **relations})


def _why(e: Exception) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return f"{type(e).__name__}: {e}" if not isinstance(e, msgspec.DecodeError) else str(e)


_GZIP = b"\x1f\x8b"
MAX_LOG = 1 << 28  # bytes of a decompressed log: a profile needs counts, not a bomb's output


def _events(raw: bytes, name: str) -> Iterator[tuple[Span, Any]]:
    """Each event of a log with where it stands: a line, or the file for an array."""
    if raw[:2] == _GZIP:
        unzip = zlib.decompressobj(wbits=31)
        try:
            raw = unzip.decompress(raw, MAX_LOG)
        except zlib.error as e:
            raise InputError.at(Code.INVALID_DECISION_LOG, f"not gzip data: {e}", Span(file=name)) from None
        if unzip.unconsumed_tail:
            raise InputError.at(Code.INVALID_DECISION_LOG, f"decompresses to more than {MAX_LOG} bytes",
                                Span(file=name))
        if not unzip.eof:
            raise InputError.at(Code.INVALID_DECISION_LOG, "the gzip data is cut short", Span(file=name))
    if raw.lstrip()[:1] == b"[":
        try:
            events = msgspec.json.decode(raw)
        except (msgspec.DecodeError, RecursionError) as e:
            raise InputError.at(Code.INVALID_DECISION_LOG, f"not a JSON array of events: {_why(e)}",
                                Span(file=name)) from None
        for i, event in enumerate(events):
            yield Span(file=f"{name}[{i}]"), event
        return
    for lineno, line in enumerate(raw.splitlines(), 1):
        if line.strip():
            yield Span(file=name, line=lineno), line


class Group(msgspec.Struct, frozen=True, array_like=True):
    """Users that share enterprise, role and teams, and the resources one relation
    places for them: every pair is a request of the cell."""

    users: tuple[str, ...]
    resources: tuple[str, ...]


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a worker needs to produce any block of the workload, and the facts
    each request is expected to find (a difference is a fact changed during the run)."""

    requests: int
    seed: int
    actions: tuple[str, ...]
    bases: tuple[tuple[str, str, str], ...]  # (tenant, role, relation); cell = base x action
    groups: tuple[tuple[Group, ...], ...]  # per base
    group_weights: tuple[tuple[int, ...], ...]  # cumulative pair counts, per base
    cover: tuple[int, ...]  # cell indices in their coverage order
    floor: int
    cum_weights: tuple[float, ...]  # cumulative profile weight per cell index
    users: dict[str, tuple[str, str, tuple[str, ...]]]  # id -> (enterprise, role, teams)
    resources: dict[str, tuple[str, str, str | None]]  # id -> (kind, enterprise, team)

    @property
    def cells(self) -> int:
        return len(self.bases) * len(self.actions)

    def cell(self, index: int) -> CellKey:
        base, a = divmod(index, len(self.actions))
        tenant, role, rel = self.bases[base]
        return (tenant, role, self.actions[a], rel)

    @property
    def blocks(self) -> int:
        return -(-self.requests // BLOCK)

    def block(self, b: int) -> list[tuple[str, str, str]]:
        """The requests (user id, action, resource id) of block `b`."""
        rng = random.Random(f"{self.seed}/{b}")
        draw = rng.random  # int(draw() * n): uniform below n, cheaper than randrange
        start, end = b * BLOCK, min(self.requests, (b + 1) * BLOCK)
        covered = len(self.cover) * self.floor
        n_actions = len(self.actions)
        total = self.cum_weights[-1]
        out = []
        for i in range(start, end):
            if i < covered:
                cell = self.cover[i % len(self.cover)]
            else:
                cell = bisect.bisect_right(self.cum_weights, draw() * total)
                cell = min(cell, len(self.cum_weights) - 1)
            base, a = divmod(cell, n_actions)
            weights = self.group_weights[base]
            g = self.groups[base][bisect.bisect_right(weights, int(draw() * weights[-1]))]
            out.append((g.users[int(draw() * len(g.users))], self.actions[a],
                        g.resources[int(draw() * len(g.resources))]))
        return out


def shard_blocks(plan: Plan, shard: tuple[int, int] | None) -> list[int]:
    """The blocks shard (I, N) runs (all blocks without a shard)."""
    if shard is None:
        return list(range(plan.blocks))
    i, n = shard
    return list(range(i - 1, plan.blocks, n))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    i, sep, n = text.partition("/")
    try:
        pair = (int(i), int(n)) if sep else None
    except ValueError:
        pair = None
    if pair is None or not 1 <= pair[0] <= pair[1]:
        raise InputError.at(Code.BAD_FLAG, f"`--shard {text}` must be I/N with 1 <= I <= N, e.g. 2/4",
                            Span(file="--shard"))
    return pair


def plan(tenancy: Tenancy, profile: Profile, *, requests: int, seed: int) -> Plan:
    """The workload over `tenancy`'s realised cells; an empty tenancy is bad input."""
    missing = [what for what, items in (("users", tenancy.users), ("resources", tenancy.resources),
                                        ("actions", tenancy.actions)) if not items]
    if missing:
        raise InputError.at(Code.EMPTY_TENANCY, f"the tenancy has no {' and no '.join(missing)}: "
                            "nothing to replay", help="seed it with `policydiff db seed`")
    actions = tuple(dict.fromkeys(tenancy.actions))
    by_ent: dict[str, list] = defaultdict(list)
    for r in tenancy.resources:
        by_ent[r.enterprise].append(r)
    # users with the same enterprise, role and teams share every list of resources
    kinds: dict[tuple[str, str, frozenset], list[str]] = defaultdict(list)
    for u in tenancy.users:
        kinds[(u.enterprise, u.role, frozenset(u.teams))].append(u.id)
    foreign_cache: dict[str, tuple[str, ...]] = {}
    bases: dict[tuple[str, str, str], list[Group]] = defaultdict(list)
    for (ent, role, teams), users in kinds.items():
        split: dict[str, list[str]] = defaultdict(list)
        probe = _probe_user(ent, role, teams)
        for r in by_ent[ent]:
            split[relation(probe, r)].append(r.id)
        if ent not in foreign_cache:
            foreign_cache[ent] = tuple(r.id for r in tenancy.resources if r.enterprise != ent)
        if foreign_cache[ent]:
            split["other_enterprise"] = list(foreign_cache[ent])
        for rel, res in split.items():
            bases[(ent, role, rel)].append(Group(users=tuple(users), resources=tuple(res)))
    keys = sorted(bases)
    cells = len(keys) * len(actions)
    if requests < cells * profile.floor:
        raise InputError.at(
            Code.TOO_FEW_REQUESTS, f"{requests} requests cannot give each of the tenancy's {cells} "
            f"cells its floor of {profile.floor}", Span(file="--requests"),
            help=f"replay at least {cells * profile.floor} requests, or use a profile with `floor: 0`")
    groups = tuple(tuple(bases[k]) for k in keys)
    group_weights = tuple(tuple(_cumulative([len(g.users) * len(g.resources) for g in gs]))
                          for gs in groups)
    weights = [profile.weight(role, a, rel) for (_, role, rel) in keys for a in actions]
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)
    cover = list(range(len(keys) * len(actions)))
    random.Random(f"{seed}/cover").shuffle(cover)
    return Plan(requests=requests, seed=seed, actions=actions, bases=tuple(keys), groups=groups,
                group_weights=group_weights, cover=tuple(cover), floor=profile.floor,
                cum_weights=tuple(_cumulative(weights)),
                users={u.id: (u.enterprise, u.role, tuple(sorted(set(u.teams), key=str.encode)))
                       for u in tenancy.users},
                resources={r.id: (r.kind, r.enterprise, r.team) for r in tenancy.resources})


def tenancy_digest(tenancy: Tenancy) -> str:
    """sha256 of the tenancy's facts in one canonical order (every list by id, byte
    order; teams each once): equal facts give equal digests whether they come from the
    database or from a file, in whatever order it lists them."""
    key = str.encode

    def ids(xs) -> list[str]:
        return sorted(set(xs), key=key)

    doc = [sorted(([e.id, ids(e.teams)] for e in tenancy.enterprises), key=lambda x: key(x[0])),
           sorted(([u.id, u.enterprise, u.role, ids(u.teams)] for u in tenancy.users), key=lambda x: key(x[0])),
           sorted(([r.id, r.kind, r.enterprise, r.team] for r in tenancy.resources), key=lambda x: key(x[0])),
           ids(tenancy.actions)]
    return hashlib.sha256(msgspec.json.encode(doc)).hexdigest()


def _probe_user(ent: str, role: str, teams: frozenset):
    from policydiff.tenancy import User

    return User(id="", enterprise=ent, role=role, teams=tuple(teams))


def _cumulative(values: list) -> list:
    out, acc = [], 0
    for v in values:
        acc += v
        out.append(acc)
    return out
