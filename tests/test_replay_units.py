"""The replay's parts without a database: the shadow authorizer, the metrics tally and
its Prometheus flush, the workload plan (coverage, shards, determinism) and profiles."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from policydiff import ShadowAuthorizer, load_policy
from policydiff.analysis import analyze_policies
from policydiff.db import generate, policy_actions
from policydiff.errors import InputError
from policydiff.matrix import Space, realise
from policydiff.replay import Metrics, workload
from policydiff.replay.metrics import BUCKETS, Tally, percentiles
from policydiff.tenancy import request_input

ROOT = Path(__file__).resolve().parent.parent
V1, V2 = ROOT / "policies/rbac_v1.rego", ROOT / "policies/rbac_v2.rego"

DIVIDES = """package shadow
import rego.v1
allow if { 1 / count(input.subject.teams) > 0 }
"""
RAISES = """package shadow
import rego.v1
allow if { input.action == "x" }
"""


@pytest.fixture(scope="module")
def policies():
    return load_policy(V1), load_policy(V2)


@pytest.fixture(scope="module")
def tenancy():
    return generate(actions=policy_actions(ROOT / "policies"))


def _request(tenancy, role: str, action: str, rel: str) -> dict:
    from policydiff.tenancy import relation

    for u in tenancy.users:
        if u.role != role:
            continue
        for r in tenancy.resources:
            if relation(u, r) == rel:
                return request_input(u, action, r)
    raise AssertionError(f"no {role} {rel} pair")


def _registry_metrics():
    registry = CollectorRegistry()
    return Metrics(registry=registry), registry


def _samples(text: str) -> dict:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


# ---- the shadow authorizer


def test_enforced_answer_and_comparison(policies, tenancy):
    v1, v2 = policies
    metrics, registry = _registry_metrics()
    log: list[dict] = []
    auth = ShadowAuthorizer(v1, v2, metrics=metrics, decision_log=log.append, flush_every=None)
    billing = _request(tenancy, "viewer", "billing:read", "own_team")  # v2 drops billing for viewers
    read = _request(tenancy, "viewer", "project:read", "own_team")
    assert auth.authorize(billing) is True  # v1 enforces: the tightening does not deny
    assert auth.authorize(read) is True
    assert auth.drain() == 2
    flushed = metrics.flush()
    assert flushed.outcome_counts() == {"match": 1, "v2_more_permissive": 0,
                                        "v2_more_restrictive": 1, "error": 0}
    scraped = _samples(generate_latest(registry).decode())
    assert scraped[("rbac_v1_v2_comparison_total", (("outcome", "v2_more_restrictive"),))] == 1
    assert scraped[("rbac_v1_v2_comparison_total", (("outcome", "match"),))] == 1
    assert scraped[("rbac_v1_latency_seconds_count", ())] == 2
    assert scraped[("rbac_v2_latency_seconds_count", ())] == 2
    [entry] = log
    assert entry["input"] == billing and entry["path"] == "rbac/v1/allow"
    assert (entry["result"], entry["v1_result"], entry["v2_result"]) == (True, True, False)
    assert {"decision_id", "timestamp"} <= set(entry)


def test_by_default_the_metrics_are_in_prometheus_client_s_registry(policies, tenancy):
    """An application that embeds the authorizer without `metrics=` exposes its metrics
    where prometheus_client's `start_http_server(port)` serves them (the default
    REGISTRY); a second authorizer in the process shares them instead of failing on a
    duplicate name."""
    from prometheus_client import REGISTRY

    v1, v2 = policies
    billing = _request(tenancy, "viewer", "billing:read", "own_team")
    restrictive = ("rbac_v1_v2_comparison_total", {"outcome": "v2_more_restrictive"})
    before = REGISTRY.get_sample_value(*restrictive) or 0.0
    timed = REGISTRY.get_sample_value("rbac_v2_latency_seconds_count") or 0.0
    first, second = ShadowAuthorizer(v1, v2), ShadowAuthorizer(v1, v2)
    for auth in (first, second):
        assert auth.authorize(billing) is True
        auth.close()  # flushes
    assert REGISTRY.get_sample_value(*restrictive) == before + 2
    assert REGISTRY.get_sample_value("rbac_v2_latency_seconds_count") == timed + 2
    assert REGISTRY.get_sample_value("rbac_replay_requests_total") is None  # no replay here


def test_a_metric_of_another_shape_under_a_contract_name_is_refused():
    from prometheus_client import Counter

    registry = CollectorRegistry()
    Counter("rbac_v1_latency_seconds", "not a histogram", registry=registry)
    with pytest.raises(ValueError, match="rbac_v1_latency_seconds"):
        Metrics(registry=registry)


def test_shadow_failures_never_change_the_enforced_answer(policies, tenancy):
    v1, _ = policies
    req = _request(tenancy, "viewer", "project:read", "enterprise")
    for broken in (load_policy(DIVIDES), _Exploding()):
        metrics, _ = _registry_metrics()
        auth = ShadowAuthorizer(v1, broken, metrics=metrics, flush_every=None)
        req = {**req, "subject": {**req["subject"], "teams": []}}
        assert auth.authorize(req) is v1.allows(req) is True
        auth.drain()
        assert metrics.flush().outcome_counts()["error"] == 1


class _Exploding:
    decision = "data.shadow.allow"

    def allows(self, request, **kw):
        raise RuntimeError("shadow is broken")


def test_failing_enforcer_denies_and_counts_an_error(policies, tenancy):
    _, v2 = policies
    metrics, _ = _registry_metrics()
    auth = ShadowAuthorizer(_Exploding(), v2, metrics=metrics, flush_every=None)
    req = _request(tenancy, "admin", "project:read", "enterprise")
    assert auth.authorize(req) is False
    auth.drain()
    assert metrics.flush().outcome_counts()["error"] == 1


def test_from_flags_follows_the_enforcement_switch(policies, tenancy):
    v1, v2 = policies
    billing = _request(tenancy, "viewer", "billing:read", "own_team")
    shadow = ShadowAuthorizer.from_flags(v1, v2, {"RBAC_V2_SHADOW": "true"}, flush_every=None)
    assert (shadow.enforce, shadow.shadow) == (v1, v2)
    alone = ShadowAuthorizer.from_flags(v1, v2, {})
    assert alone.shadow is None and alone.authorize(billing) is True
    promoted = ShadowAuthorizer.from_flags(
        v1, v2, {"RBAC_V1_ENFORCE": "false", "RBAC_V2_ENFORCE": "true"},
        metrics=Metrics(prometheus=False), flush_every=None)
    assert promoted.authorize(billing) is False  # v2 enforces now
    promoted.drain()
    # named from v1 to v2 whoever enforces
    assert promoted.metrics.flush().outcome_counts()["v2_more_restrictive"] == 1
    with pytest.raises(InputError) as e:
        ShadowAuthorizer.from_flags(v1, v2, {"RBAC_V1_ENFORCE": "true", "RBAC_V2_ENFORCE": "true"})
    assert e.value.diagnostics[0].code == "inconsistent_flags"


def test_background_drainer_and_file_decision_log(policies, tenancy):
    v1, v2 = policies
    out = io.StringIO()
    auth = ShadowAuthorizer(v1, v2, metrics=Metrics(prometheus=False), decision_log=out,
                            flush_every=None)
    with auth:
        for action in ("billing:read", "project:read", "project:export"):
            auth.authorize(_request(tenancy, "developer", action, "own_team"))
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["input"]["action"] for x in lines] == ["billing:read"]
    assert lines[0]["outcome"] == "v2_more_restrictive"
    with pytest.raises(TypeError, match="decision_log"):  # a path is not a file
        ShadowAuthorizer(v1, v2, metrics=Metrics(prometheus=False), decision_log="diffs.jsonl")


# ---- metrics


def test_percentiles_come_from_the_buckets():
    t = Tally()
    for us in range(1, 101):  # 1 .. 100 microseconds
        t.observe("v1", us * 1e-6)
    p = percentiles(t.hist["v1"], t.max["v1"])
    assert p.max == pytest.approx(0.1)
    # each percentile is the bound of its bucket: at most one bucket (26 %) above the value
    for got, exact in ((p.p50, 0.050), (p.p95, 0.095), (p.p99, 0.099)):
        assert exact <= got <= exact * 2 ** (1 / 3) * 1.001
    assert BUCKETS[0] == 1e-6 and BUCKETS[-1] > 10


def test_tally_survives_pickling_and_merging():
    import pickle

    a, b = Tally(), Tally()
    a.record("match", ("t", "r", "a", "own_team"))
    b.record("v2_more_restrictive", ("t", "r", "a", "own_team"))
    b.observe("db", 0.002)
    a.merge(pickle.loads(pickle.dumps(b)))
    assert a.cells == {("t", "r", "a", "own_team"): [2, 0, 1, 0]}
    assert sum(a.hist["db"]) == 1


# ---- workload


def test_plan_realises_compare_cells_and_covers_them(policies, tenancy):
    v1, v2 = policies
    profile = workload.load_profile(None, tenancy)
    plan = workload.plan(tenancy, profile, requests=2000, seed=3)
    real = realise(Space(analyze_policies(v1, v2)), tenancy)
    expected = {(t.tenant, role, a, rel) for t in real.tenants for role, rel in t.counts for a in real.actions}
    planned = {plan.cell(i) for i in range(plan.cells)}
    assert planned == expected
    users = {u.id: u for u in tenancy.users}
    resources = {r.id: r for r in tenancy.resources}
    space = Space(analyze_policies(v1, v2))
    seen = set()
    for b in range(plan.blocks):
        for u, a, r in plan.block(b):
            seen.add(space.cell_of(request_input(users[u], a, resources[r]), concrete=True))
    assert seen == expected


def test_compare_keys_every_request_as_cell_of(policies, tenancy):
    """One definition of a request's cell: compare's rows over a tenancy are exactly the
    cells `Space.cell_of` gives the tenancy's requests, one by one, and each witness
    lies in the row that reports it."""
    from policydiff.diff import diff

    v1, v2 = policies
    space = Space(analyze_policies(v1, v2))
    every = {space.cell_of(request_input(u, a, r), concrete=True) for u, a, r in tenancy.requests()}
    report = diff(v1, v2, tenancy=tenancy)
    assert {c.key for c in report.cells} == every
    assert report.discrepancies
    for d in report.discrepancies:
        assert space.cell_of(d.witness, concrete=True) == (d.tenant, d.role, d.action, d.relation)


def test_cells_of_is_cell_of_with_each_action():
    """`cells_of` (compare's shortcut over a tenancy's actions) gives what `cell_of` gives
    for each action, also where another dimension lives at the action's path."""
    from policydiff.matrix import Dimensions

    v1 = load_policy(V1)
    analysis = analyze_policies(v1, v1)
    inp = {"subject": {"enterprise": "e1", "role": "viewer", "teams": ["t1"]},
           "action": "?", "resource": {"enterprise": "e1", "team": "t1"}}
    actions = ["project:read", "billing:write"]
    for dims in (Dimensions(), Dimensions(role=("action",), runbook=False),
                 Dimensions(action=("subject", "role"), runbook=False)):
        space = Space(analysis, dims)
        expected = []
        for a in actions:
            one = json.loads(json.dumps(inp))
            node = one
            for k in (dims.action or ())[:-1]:
                node = node[k]
            node[dims.action[-1]] = a
            expected.append(space.cell_of(one, concrete=True))
        assert space.cells_of(json.loads(json.dumps(inp)), actions) == expected
        assert len(set(expected)) == 2


def test_workload_is_deterministic_and_shards_partition_it(tenancy):
    profile = workload.load_profile(None, tenancy)
    plan = workload.plan(tenancy, profile, requests=5000, seed=11)
    again = workload.plan(tenancy, profile, requests=5000, seed=11)
    assert [plan.block(b) for b in range(plan.blocks)] == [again.block(b) for b in range(again.blocks)]
    other = workload.plan(tenancy, profile, requests=5000, seed=12)
    assert plan.block(5) != other.block(5)
    shards = [workload.shard_blocks(plan, (i, 3)) for i in (1, 2, 3)]
    assert sorted(b for s in shards for b in s) == list(range(plan.blocks))
    assert sum(len(plan.block(b)) for b in range(plan.blocks)) == 5000


@pytest.mark.parametrize("text", ["0/2", "3/2", "x", "1-2", "2"])
def test_bad_shard(text):
    with pytest.raises(InputError):
        workload.parse_shard(text)


def test_profiles_naming_unknown_things_are_refused(tmp_path, tenancy):
    bad = tmp_path / "p.yaml"
    bad.write_text("roles: {wizard: 3}\nactions: {'ship:*': 1}\nrelations: {nearby: 1}\n")
    with pytest.raises(InputError) as e:
        workload.load_profile(bad, tenancy)
    message = e.value.diagnostics[0].message
    assert "`wizard`" in message and "`ship:*`" in message and "`nearby`" in message


def test_profile_from_decision_log(tmp_path, tenancy):
    log = tmp_path / "decisions.jsonl"
    reqs = [_request(tenancy, "viewer", "project:read", "own_team")] * 3 + [
        _request(tenancy, "admin", "billing:write", "enterprise")]
    log.write_text("".join(json.dumps({"decision_id": str(i), "path": "rbac/v1/allow", "input": r,
                                       "result": True}) + "\n" for i, r in enumerate(reqs)))
    profile = workload.load_profile(log, tenancy)
    assert profile.weight("viewer", "project:read", "own_team") == 27
    assert profile.weight("developer", "project:read", "own_team") == 0
    plan = workload.plan(tenancy, msgspec.structs.replace(profile, floor=0), requests=300, seed=1)
    drawn = {plan.cell(i) for i, w in enumerate(_weights(plan)) if w}
    assert drawn
    assert {c[1] for c in drawn} == {"viewer", "admin"}
    assert {c[2] for c in drawn} == {"project:read", "billing:write"}
    assert {c[3] for c in drawn} == {"own_team", "enterprise"}


def test_profile_from_the_shadow_s_own_decision_log(policies, tenancy, tmp_path):
    """What `ShadowAuthorizer` logs, `--profile` reads back: the discrepancies' roles,
    actions and relations become the mix."""
    v1, v2 = policies
    log = tmp_path / "shadow.jsonl"
    asked = [("viewer", "billing:read", "own_team")] * 2 + [("developer", "billing:read", "enterprise")]
    with log.open("w") as f:
        auth = ShadowAuthorizer(v1, v2, metrics=Metrics(prometheus=False), decision_log=f,
                                flush_every=None)
        for cell in asked + [("admin", "project:read", "enterprise")]:  # a match: not logged
            auth.authorize(_request(tenancy, *cell))
        auth.close()
    assert len(log.read_text().splitlines()) == 3
    profile = workload.load_profile(log, tenancy)
    assert profile.weight("viewer", "billing:read", "own_team") == 2 * 3 * 2
    assert profile.weight("developer", "billing:read", "enterprise") == 1 * 3 * 1
    assert profile.weight("admin", "project:read", "enterprise") == 0


def _opa_event(i: int, request: dict, **extra) -> dict:
    """An event as OPA's decision logger writes it (docs: Decision Logs)."""
    return {"labels": {"app": "rbac", "id": "1780d507-aea2-45cc-ae50-fa153c8e4a5a", "version": "1.20.0"},
            "decision_id": f"4ca636c1-55e4-417a-b1d8-{i:012d}", "bundles": {"authz": {"revision": "r1"}},
            "path": "rbac/v1/allow", "input": request, "result": True, "requested_by": "[::1]:59943",
            "timestamp": "2026-12-05T08:00:00.000000Z", "metrics": {"timer_rego_query_eval_ns": 2300},
            "req_id": i, **extra}


def test_profile_from_opa_s_decision_log_formats(tmp_path, tenancy):
    """OPA's console logger (one event a line, with its log fields), and the gzipped JSON
    array OPA uploads to a decision-log service: the same counts either way."""
    import gzip

    reqs = [_request(tenancy, "viewer", "project:read", "own_team")] * 3 + [
        _request(tenancy, "admin", "billing:write", "other_enterprise")]
    console = tmp_path / "opa.log"
    console.write_text("".join(json.dumps(_opa_event(i, r, level="info", msg="Decision Log",
                                                     time="2026-12-05T08:00:00Z")) + "\n"
                               for i, r in enumerate(reqs)))
    upload = tmp_path / "upload.json.gz"
    upload.write_bytes(gzip.compress(json.dumps([_opa_event(i, r) for i, r in enumerate(reqs)]).encode()))
    plain = tmp_path / "upload.json"  # the same body, not compressed, under a profile's name
    plain.write_bytes(gzip.decompress(upload.read_bytes()))
    profiles = [workload.load_profile(p, tenancy) for p in (console, upload, plain)]
    assert profiles[0] == profiles[1] == profiles[2]
    assert profiles[0].weight("viewer", "project:read", "own_team") == 27
    assert profiles[0].weight("admin", "billing:write", "other_enterprise") == 1
    assert profiles[0].weight("developer", "project:read", "own_team") == 0  # no developer logged
    # an event without the request, and a cut-short upload: bad input, located
    upload.write_bytes(gzip.compress(json.dumps([_opa_event(0, reqs[0]), {"decision_id": "x"}]).encode()))
    with pytest.raises(InputError) as e:
        workload.load_profile(upload, tenancy)
    assert e.value.diagnostics[0].span.file.endswith("upload.json.gz[1]")
    upload.write_bytes(gzip.compress(json.dumps([_opa_event(0, reqs[0])]).encode())[:-12])
    with pytest.raises(InputError) as e:
        workload.load_profile(upload, tenancy)
    assert "cut short" in e.value.diagnostics[0].message


def test_hostile_decision_logs_are_bad_input(tmp_path, tenancy, monkeypatch):
    """Nesting past Python's recursion limit, in a line or an array, and a gzip file that
    decompresses past the bound: located bad input, never a traceback."""
    import gzip

    deep = b"[" * 1_000_000 + b"]" * 1_000_000
    lines, array, bomb = tmp_path / "deep.jsonl", tmp_path / "deep.json", tmp_path / "bomb.json.gz"
    good = json.dumps(_opa_event(0, _request(tenancy, "viewer", "project:read", "own_team"))).encode()
    lines.write_bytes(good + b"\n" + deep + b"\n")
    array.write_bytes(deep)
    monkeypatch.setattr(workload, "MAX_LOG", 1000)
    bomb.write_bytes(gzip.compress(b"[" + b" " * 5000 + b"]"))
    for path, where, says in ((lines, "deep.jsonl", "nested too deeply"),
                              (array, "deep.json", "nested too deeply"),
                              (bomb, "bomb.json.gz", "more than 1000 bytes")):
        with pytest.raises(InputError) as e:
            workload.load_profile(path, tenancy)
        d = e.value.diagnostics[0]
        assert d.code == "invalid_decision_log" and says in d.message and where in d.span.file
        assert d.span.line == (2 if path is lines else 0)


def _weights(plan):
    prev = 0.0
    for c in plan.cum_weights:
        yield c - prev
        prev = c


def test_too_few_requests_for_the_coverage_floor(tenancy):
    profile = workload.load_profile(None, tenancy)
    cells = workload.plan(tenancy, profile, requests=10_000, seed=0).cells
    with pytest.raises(InputError) as e:
        workload.plan(tenancy, profile, requests=cells - 1, seed=0)
    assert e.value.diagnostics[0].code == "too_few_requests"
    uncovered = msgspec.structs.replace(profile, floor=0)
    assert workload.plan(tenancy, uncovered, requests=10, seed=0).requests == 10


@pytest.mark.parametrize("part", ["users", "resources", "actions"])
def test_empty_tenancy_is_bad_input(tenancy, part):
    empty = msgspec.structs.replace(tenancy, **{part: ()})
    with pytest.raises(InputError) as e:
        workload.plan(empty, workload.load_profile(None, tenancy), requests=10, seed=0)
    assert e.value.diagnostics[0].code == "empty_tenancy"
    assert f"no {part}" in e.value.diagnostics[0].message and "nothing to replay" in e.value.diagnostics[0].message


def test_default_profile_keeps_the_examples_under_the_runbook_rate(policies, tenancy):
    """With the shipped profile, 250k requests over the seeded tenancy cover every cell
    and the expected share of discrepant requests (from compare's verdicts and the
    plan's weights) stays under the runbook's 1 %."""
    from policydiff.diff import diff

    v1, v2 = policies
    report = diff(v1, v2, tenancy=tenancy)
    verdicts = {c.key: (c.v1, c.v2) for c in report.cells}
    requests = 250_000
    plan = workload.plan(tenancy, workload.load_profile(None, tenancy), requests=requests, seed=0)
    assert plan.cells * plan.floor <= requests  # every cell gets its floor
    weights = list(_weights(plan))
    total = sum(weights)
    differs = [verdicts[plan.cell(i)][0] != verdicts[plan.cell(i)][1] for i in range(plan.cells)]
    assert all(verdicts[plan.cell(i)][0] != "mixed" for i in range(plan.cells))
    covered = plan.cells * plan.floor
    expected = (plan.floor * sum(differs)
                + (requests - covered) * sum(w for w, d in zip(weights, differs) if d) / total)
    assert 0 < expected / requests < 0.01


def test_progress_view_plain_lines_and_messages():
    from policydiff.replay import Progress
    from policydiff.report.replay import ProgressView

    out = io.StringIO()
    with ProgressView(out, tty=False) as view:
        view(Progress(done=256, total=1000, elapsed=0.5))
        view(Progress(done=512, total=1000, elapsed=1.0, message="worker 1 crashed (exit code -9)"))
        view(Progress(done=1000, total=1000, elapsed=2.0, discrepancies=7))
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("replay: 256/1000 requests (26 %), 512 req/s")
    assert "replay: worker 1 crashed (exit code -9)" in lines
    assert lines[-1] == "replay: 1000/1000 requests (100 %), 500 req/s, 7 discrepancies"
    bar = io.StringIO()
    with ProgressView(bar, tty=True) as view:
        view(Progress(done=500, total=1000, elapsed=1.0))
    assert "500/1000" in bar.getvalue() and "500 req/s" in bar.getvalue()


def test_tenancy_digest_is_of_the_facts_not_their_order(tenancy):
    from policydiff.replay.workload import tenancy_digest
    from policydiff.tenancy import Enterprise

    shuffled = msgspec.structs.replace(
        tenancy,
        enterprises=tuple(Enterprise(id=e.id, teams=tuple(reversed(e.teams))) for e in reversed(tenancy.enterprises)),
        users=tuple(msgspec.structs.replace(u, teams=tuple(reversed(u.teams)) * 2) for u in reversed(tenancy.users)),
        resources=tuple(reversed(tenancy.resources)), actions=tuple(reversed(tenancy.actions)))
    assert shuffled != tenancy and tenancy_digest(shuffled) == tenancy_digest(tenancy)
    k, u = next((k, u) for k, u in enumerate(tenancy.users) if u.teams and u.role != "system")
    others = tenancy.users[:k] + tenancy.users[k + 1:]
    for changed in (
        msgspec.structs.replace(tenancy, users=(msgspec.structs.replace(u, role="system"), *others)),
        msgspec.structs.replace(tenancy, users=(msgspec.structs.replace(u, teams=()), *others)),
        msgspec.structs.replace(tenancy, resources=tenancy.resources[1:]),
        msgspec.structs.replace(tenancy, actions=(*tenancy.actions, "new:action")),
    ):
        assert tenancy_digest(changed) != tenancy_digest(tenancy)
