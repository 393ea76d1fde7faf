"""compile/'s structure: the stage table runs, speedups go in in their order, and the
import rewriter for the rooms' moves is idempotent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import policydiff.compile as compile_package
from policydiff import PolicyError, load_policy
from policydiff.compile import STAGES, Stage, compile_modules
from policydiff.compile.rule import CompiledRule
from policydiff.compile.speedups import memo
from policydiff.frontend import rego
from policydiff.source import Source

ROOT = Path(__file__).resolve().parents[1]
REWRITER = ROOT / "scripts" / "compile_rooms.py"

POLICY = """package s

roles := {"a": ["r"], "b": ["w"]}

allow if {
\tsome g in roles[input.role]
\tg == input.action
}
"""


def _modules(text: str):
    return [rego.parse(Source(name="s.rego", text=text))]


def test_compile_modules_runs_the_stages_the_table_names(monkeypatch):
    seen = []
    recorded = tuple(Stage(s.name, lambda unit, s=s: (seen.append((s.name, unit.program is None)), s.run(unit))[1])
                     for s in STAGES)
    monkeypatch.setattr(compile_package, "STAGES", recorded)
    program = compile_modules(_modules(POLICY))
    assert [name for name, _ in seen] == ["resolve", "locals", "heads", "link", "typecheck"]
    assert [before for _, before in seen] == [True, True, True, True, False]  # `link` made the program
    assert program.rules[("s", "allow")].kind == "complete"


def test_a_stage_added_to_the_table_runs_and_its_diagnostics_are_reported(monkeypatch):
    extra = Stage("refuse", lambda unit: [PolicyError.at("unsupported", "refused by a stage").diagnostics[0]])
    monkeypatch.setattr(compile_package, "STAGES", (*STAGES, extra))
    with pytest.raises(PolicyError) as e:
        compile_modules(_modules(POLICY))
    assert [d.code for d in e.value.diagnostics] == ["unsupported"]


def test_diagnostics_of_stages_that_return_them_are_reported_together():
    # a builtin outside the subset (resolve) and a type error (typecheck), in one report
    text = POLICY + "\nx if http.send({})\n\ny if 1 + \"a\"\n"
    with pytest.raises(PolicyError) as e:
        compile_modules(_modules(text))
    codes = [d.code for d in e.value.diagnostics]
    assert codes == ["unsupported", "rego_type_error"]


def test_an_earlier_stage_of_opa_s_that_fails_is_reported_alone():
    # an undefined function is found in a stage of OPA's before its type checker: alone
    text = POLICY + "\nx if nope(1)\n\ny if 1 + \"a\"\n"
    with pytest.raises(PolicyError) as e:
        compile_modules(_modules(text))
    assert [(d.code, d.message) for d in e.value.diagnostics] == [("rego_type_error", "undefined function `nope`")]


def test_a_guard_cannot_go_over_a_memo():
    policy = load_policy(POLICY)
    roles = policy.program.rules[("s", "roles")]
    assert roles.remembered and roles.static  # reads no input: remembered once
    with pytest.raises(RuntimeError, match="over a memo"):
        roles.install_guard(lambda compute: compute)
    plain = CompiledRule(roles.group)
    plain.install_guard(lambda compute: compute)  # not remembered: accepted
    plain.install_memo(memo.constant)
    assert plain.remembered and plain.decider() is plain.value


# old paths, spelled so that the rewriter's check of this repository does not take them
OLD = '''from {pkg} import arithmetic as ar, values
from {pkg}.rules import CompiledRule, Ctx, Program
from {pkg}.memo import MAX_PATHS
import {pkg}.dispatch


def f(x):
    from {pkg}.operands import (
        string,
        integer,
    )
    return {pkg}.dispatch.MIN_BODIES, {tf}._MONTHS, "{c}/inline.py"
'''.format(pkg="policydiff.compile", tf="timefmt", c="compile")


def _rewrite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REWRITER), *args], capture_output=True, text=True, check=False)


def test_the_rewriter_moves_old_imports_and_is_idempotent(tmp_path):
    f = tmp_path / "old.py"
    f.write_text(OLD)
    assert _rewrite("--check", str(f)).returncode == 1
    assert _rewrite(str(f)).returncode == 0
    new = f.read_text()
    for line in ("from policydiff.compile.builtins import arithmetic as ar",
                 "from policydiff.compile import values",
                 "from policydiff.compile.rule import CompiledRule, Ctx",
                 "from policydiff.compile.program import Program",
                 "from policydiff.compile.speedups.memo import MAX_PATHS",
                 "import policydiff.compile.speedups.dispatch",
                 "from policydiff.compile.builtins.operands import integer, string"):
        assert line in new, (line, new)
    assert "policydiff.compile.speedups.dispatch.MIN_BODIES" in new
    assert "timefmt.MONTHS" in new and "compile/speedups/inline.py" in new
    assert _rewrite("--check", str(f)).returncode == 0  # a second run changes nothing
    assert _rewrite(str(f)).returncode == 0
    assert f.read_text() == new


def test_the_repository_already_uses_the_new_paths():
    out = _rewrite("--check")
    assert out.returncode == 0, out.stdout
