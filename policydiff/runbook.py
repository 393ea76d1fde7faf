"""The runbook (Track A: RBACv2 promotion) as one command: a table of steps that runs.

`STEPS` is the track: Step 0 snapshot (a rollback point before anything changes), Step 1
seed and verify (the runbook's minimum tenancy), Steps 2-4 replay under load with an
analysis after each (dry run 50k requests on 4 workers, coverage 250k on 4, stress 500k
on 6 with churn), then Step 5: the rollback drill and the promotion gate. `run_runbook`
loops over the table, stops at the first hard stop with the runbook's instruction, and
writes each step's files and the track's state (`runbook.json`) to the output directory,
so `resume=True` continues after the last completed step — refused when the policies or
classifications changed since, as their evidence would no longer be theirs. Progress
goes to an observer; nothing here prints.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from policydiff.errors import Code, InputError, PolicydiffError
from policydiff.promotion_gate import PromotionGate
from policydiff.results import PolicyInfo
from policydiff.source import Span

STATE = "runbook.json"
STRESS_CHURN = 50.0  # membership and role changes a second during the stress step


class Options(msgspec.Struct, frozen=True, kw_only=True):
    v1: str = "policies/rbac_v1.rego"
    v2: str = "policies/rbac_v2.rego"
    classifications: str | None = "classifications/rbac_v2.yaml"
    signoff: str | None = None
    output_dir: str = ".policydiff/runbook"
    dsn: str | None = None
    resume: bool = False
    latency_budget_ms: float | None = None
    # requests of the dry run, coverage and stress steps: the runbook's sizes (a smaller
    # track is for tests; the gate's 800k row then says what is missing)
    requests: tuple[int, int, int] = (50_000, 250_000, 500_000)
    churn: float = STRESS_CHURN


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    name: str
    title: str
    passed: bool
    detail: str
    files: tuple[str, ...] = ()
    seconds: float = 0.0
    requests: int = 0


class State(msgspec.Struct, frozen=True, kw_only=True):
    v1: PolicyInfo
    v2: PolicyInfo
    classifications: str | None
    classifications_sha256: str | None
    snapshot: str
    steps: tuple[StepResult, ...] = ()


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    state: State
    passed: bool
    stopped: StepResult | None = None
    instruction: str | None = None
    gate: PromotionGate | None = None
    output_dir: str


class Track:
    """What the steps share: the options, the resolved database, the output directory,
    the loaded policies and rules, and the observer."""

    def __init__(self, options: Options, observer: Callable[[str, Any], None],
                 html: Callable[..., str] | None = None):
        from policydiff.classify import load_rules
        from policydiff.diff import policy_info
        from policydiff.policy import load_policy

        self.options = options
        for path in (options.v1, options.v2, options.classifications):
            _reread_safely(path)
        from policydiff import db  # psycopg only when a track runs, not for `--help`

        self.dsn = db.resolve_dsn(options.dsn)
        self.out = Path(options.output_dir)
        self.notify = observer
        self.html = html
        self.v1, self.v2 = load_policy(options.v1), load_policy(options.v2)
        self.v1_info = policy_info(self.v1, options.v1)
        self.v2_info = policy_info(self.v2, options.v2)
        self.rules = load_rules(options.classifications) if options.classifications else None

    def connect(self):
        from policydiff import db

        return db.connect(self.dsn)


class Step(NamedTuple):
    number: int
    name: str
    title: str
    run: Callable[[Track, State], tuple[bool, str, tuple[str, ...], int]]
    restart: int  # the step to restart from after a hard stop here


def _snapshot(track: Track, state: State):
    from policydiff.db.snapshots import backend

    with track.connect():  # migrated, so the schema is part of the rollback point
        pass
    try:
        snap = backend(track.dsn).create(state.snapshot)
    except PolicydiffError as e:
        return False, f"the snapshot `{state.snapshot}` could not be taken: {e}", (), 0
    return True, f"snapshot `{snap.name}` of {snap.source} ({snap.backend}: {snap.location})", (), 0


def _seed(track: Track, state: State):
    from policydiff import db

    with track.connect() as conn:
        db.seed(conn, db.generate(db.Scale(), db.policy_actions()))
        report = db.verify(conn)
    path = track.out / "verify.json"
    path.write_bytes(msgspec.json.encode(report))
    totals = ", ".join(f"{n} {t}" for t, n in report.totals.items())
    if not report.passed:
        return False, "; ".join(p.message for p in report.problems), (str(path),), 0
    return True, totals, (str(path),), 0


def _replay_step(name: str, index: int, parallel: int, churn: bool, seed: int):
    def run(track: Track, state: State):
        from policydiff import db
        from policydiff.analyze import analyze
        from policydiff.replay import run_replay
        from policydiff.runs import load_run, merge
        from policydiff.switch import actor, record_replay

        n = track.options.requests[index]
        replay_path = track.out / f"{name}.replay.json"
        report = run_replay(v1=track.options.v1, v2=track.options.v2, requests=n,
                            parallel=parallel, seed=seed, dsn=track.dsn,
                            churn=track.options.churn if churn else 0.0,
                            observer=lambda p: track.notify("progress", p))
        replay_path.write_bytes(msgspec.json.encode(report))
        with track.connect() as conn:
            record_replay(conn, report, actor(), str(replay_path))
            tenancy = db.load_tenancy(conn)
        analysis = analyze(merge([load_run(replay_path)]), track.v1, track.v2, tenancy, track.rules)
        a_path = track.out / f"{name}.analysis.json"
        a_path.write_bytes(msgspec.json.encode(analysis))
        files = (str(replay_path), str(a_path))
        if track.html is not None:
            html = track.out / f"{name}.analysis.html"
            html.write_text(track.html(analyses=[analysis], title=f"policydiff: {name}"), encoding="utf-8")
            files += (str(html),)
        hit = [f"{c.name} ({c.detail})" for c in analysis.stop_conditions if c.hit]
        detail = "; ".join(hit) if hit else (
            f"{analysis.requests:,} requests, rate {analysis.discrepancy_rate * 100:.3f} %, "
            f"v2 p95 {analysis.latency_ms.v2.p95:.3f} ms, no stop condition hit")
        return not hit, detail, files, analysis.requests

    return run


def _drill(track: Track, state: State):
    from policydiff.drill import drill
    from policydiff.switch import actor

    with track.connect() as conn:
        result = drill(conn, track.options.v1, track.options.v2, who=actor(),
                       snapshot=state.snapshot, dsn=track.dsn)
    path = track.out / "drill.json"
    path.write_bytes(msgspec.json.encode(result))
    failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.passed]
    return (result.passed, "; ".join(failed) or f"{len(result.checks)} checks passed "
            f"(audit #{result.event.id})", (str(path),), 0)


def _gate(track: Track, state: State):
    from policydiff import promotion_gate as pg
    from policydiff.switch import actor, last_drill, record_gate

    reports = [pg.load_analysis(track.out / f"{name}.analysis.json") for name in REPLAYS]
    with track.connect() as conn:
        gate = pg.promotion_gate(
            reports, drill=last_drill(conn), signoff=track.options.signoff,
            latency_budget_ms=track.options.latency_budget_ms or pg.DEFAULT_BUDGET_MS)
        record_gate(conn, gate, actor())
    path = track.out / "gate.json"
    path.write_bytes(msgspec.json.encode(gate))
    files = (str(path),)
    if track.html is not None:
        html = track.out / "report.html"
        html.write_text(track.html(analyses=[r.report for r in reports], gate=gate), encoding="utf-8")
        files += (str(html),)
    unchecked = [f"{r.name} ({r.figure})" for r in gate.rows if not r.holds]
    return gate.passed, "; ".join(unchecked) or "every row checked", files, 0


REPLAYS = ("dry-run", "coverage", "stress")  # the steps whose analyses the gate reads
STEPS: tuple[Step, ...] = (
    Step(0, "snapshot", "Step 0: snapshot", _snapshot, 0),
    Step(1, "seed", "Step 1: seed and verify", _seed, 1),
    Step(2, "dry-run", "Step 2: dry run, 50k requests, 4 workers",
         _replay_step("dry-run", 0, 4, False, 1), 2),
    Step(3, "coverage", "Step 3: coverage, 250k requests, 4 workers",
         _replay_step("coverage", 1, 4, False, 2), 2),
    Step(4, "stress", "Step 4: stress, 500k requests, 6 workers, churn",
         _replay_step("stress", 2, 6, True, 3), 2),
    Step(5, "drill", "Step 5: rollback drill", _drill, 5),
    Step(5, "gate", "Step 5: promotion gate", _gate, 5),
)


def instruction(step: Step, result: StepResult) -> str:
    """What the runbook says to do at a hard stop."""
    if step.name == "gate":
        return (f"STOP at {step.title}: do not promote — unchecked: {result.detail}. Fix what "
                "it names" + (", or sign off with --resume --signoff NAME"
                              if result.detail.startswith("human signoff") else
                              ", then restart from Step 2"))
    return f"STOP at {step.title}: {result.detail}. Fix, then restart from Step {step.restart}."


def _reread_safely(path: str | None) -> None:
    """The track reads its policies and classifications more than once (hashed into the
    state, loaded again by the replay workers, the drill and the gate), so each must be a
    regular file: a pipe would be empty the second time (or block), and a directory is a
    bundle only `check`, `compare` and `eval` read."""
    if path is None or not os.path.exists(path) or os.path.isfile(path):
        return  # missing: the loader names it
    kind = "a directory" if os.path.isdir(path) else "not a regular file (a pipe or a device)"
    raise InputError.at(Code.UNREADABLE_FILE, f"{kind}: the runbook reads each policy and "
                        "classification file at several steps, so each must be a regular file",
                        Span(file=path))


def _sha256(path: str | None) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def _resumed(track: Track, fresh: State) -> State:
    path = track.out / STATE
    try:
        old = msgspec.json.decode(path.read_bytes(), type=State)
    except (OSError, msgspec.DecodeError) as e:
        raise InputError.at(Code.NOTHING_TO_RESUME, f"no track to resume in {track.out}: {e}",
                            Span(file=str(path)), help="run without --resume to start one") from None
    changed = [f"{side} `{getattr(fresh, side).path}`" for side in ("v1", "v2")
               if getattr(old, side).sha256 != getattr(fresh, side).sha256]
    if old.classifications_sha256 != fresh.classifications_sha256:
        changed.append(f"classifications `{fresh.classifications}`")
    if changed:
        raise InputError.at(Code.CHANGED_SINCE, f"{', '.join(changed)} changed since the track "
                            f"in {track.out} started: its evidence is not about these files",
                            Span(file=str(path)), help="start the track again without --resume")
    # completed steps are kept up to the first that did not pass
    kept: list[StepResult] = []
    for r in old.steps:
        if not r.passed:
            break
        kept.append(r)
    return msgspec.structs.replace(old, steps=tuple(kept))


def run_runbook(options: Options, observer: Callable[[str, Any], None] = lambda *_: None, *,
                html: Callable[..., str] | None = None) -> Outcome:
    """Run the track (see the module docstring); observer(kind, payload) sees `start` and
    `done` of every step (payload: the Step, the StepResult) and replay `progress`.
    `html(analyses=[…], gate=…, title=…)` draws the page each replay step and the gate
    write beside their JSON (the CLI passes `policydiff.report.html.render_html`; the
    renderer lives above this module); without it only the JSON is written."""
    track = Track(options, observer, html)
    try:
        track.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file, or nowhere to create it: bad --output-dir
        raise InputError.at(Code.UNWRITABLE_FILE, f"cannot create the track's directory: {e.strerror}",
                            Span(file=str(track.out))) from None
    stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
    state = State(v1=track.v1_info, v2=track.v2_info, classifications=options.classifications,
                  classifications_sha256=_sha256(options.classifications),
                  snapshot=f"pre-track-{stamp}")
    if options.resume:
        state = _resumed(track, state)
    done = {(r.number, r.name) for r in state.steps}
    for step in STEPS:
        if (step.number, step.name) in done:
            observer("skip", step)
            continue
        observer("start", step)
        started = time.perf_counter()
        passed, detail, files, requests = step.run(track, state)
        result = StepResult(number=step.number, name=step.name, title=step.title, passed=passed,
                            detail=detail, files=files, requests=requests,
                            seconds=time.perf_counter() - started)
        state = msgspec.structs.replace(state, steps=(*state.steps, result))
        (track.out / STATE).write_bytes(msgspec.json.format(msgspec.json.encode(state)))
        observer("done", (step, result))
        if not passed:
            return Outcome(state=state, passed=False, stopped=result,
                           instruction=instruction(step, result), gate=_gate_of(track, state),
                           output_dir=str(track.out))
    return Outcome(state=state, passed=True, gate=_gate_of(track, state), output_dir=str(track.out))


def _gate_of(track: Track, state: State) -> PromotionGate | None:
    """The gate this track recorded, if it got that far."""
    if not any(r.name == "gate" for r in state.steps):
        return None
    return msgspec.json.decode((track.out / "gate.json").read_bytes(), type=PromotionGate)
