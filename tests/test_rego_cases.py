"""The YAML case corpus (tests/cases/rego/*.yaml), decoded into typed cases and fed
through two engines: the library (`load_policy` / `Policy.evaluate`) and the command
line (`policydiff eval` / `policydiff check`). Both must give every case's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from policydiff import UNDEFINED, PolicyError, load_policy
from policydiff.cli import main
from policydiff.errors import render

CASES_DIR = Path(__file__).parent / "cases" / "rego"


class Request(msgspec.Struct, forbid_unknown_fields=True):
    input: Any
    want: Any  # the decision's value; the string "undefined" when it has none


class WantError(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    underlined: str


class Case(msgspec.Struct, forbid_unknown_fields=True):
    note: str
    modules: list[str]
    data: dict = {}
    decision: str | None = None
    requests: list[Request] = []
    want_error: WantError | None = None


class File(msgspec.Struct, forbid_unknown_fields=True):
    cases: list[Case]


def _cases() -> list[Case]:
    out = []
    for f in sorted(CASES_DIR.glob("*.yaml")):
        out.extend(msgspec.convert(yaml.safe_load(f.read_text(encoding="utf-8")), File).cases)
    return out


CASES = _cases()
DECISIONS = [c for c in CASES if c.want_error is None]
REFUSALS = [c for c in CASES if c.want_error is not None]


def _write(tmp_path: Path, case: Case) -> list[str]:
    paths = []
    for i, text in enumerate(case.modules):
        p = tmp_path / f"m{i}.rego"
        p.write_text(text)
        paths.append(str(p))
    return paths


def test_the_corpus_is_not_empty():
    assert len(DECISIONS) >= 4 and len(REFUSALS) >= 5
    assert all(c.decision and c.requests for c in DECISIONS)


@pytest.mark.parametrize("case", DECISIONS, ids=[c.note for c in DECISIONS])
def test_library_decides_every_request(case: Case):
    policy = load_policy(case.modules, data=case.data, decision=case.decision)
    for r in case.requests:
        got = policy.evaluate(r.input)
        assert ("undefined" if got is UNDEFINED else got) == r.want, r.input


@pytest.mark.parametrize("case", DECISIONS, ids=[c.note for c in DECISIONS])
def test_cli_decides_every_request(case: Case, tmp_path, capsys):
    paths = _write(tmp_path, case)
    data = tmp_path / "data.json"
    data.write_text(json.dumps(case.data))
    for i, r in enumerate(case.requests):
        request = tmp_path / f"input{i}.json"
        request.write_text(json.dumps(r.input))
        assert main(["eval", *paths, "--input", str(request), "--data", str(data),
                     "--decision", case.decision]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out.get("result", "undefined") == r.want, r.input


@pytest.mark.parametrize("case", REFUSALS, ids=[c.note for c in REFUSALS])
def test_library_refuses_with_the_code_and_span(case: Case):
    with pytest.raises(PolicyError) as e:
        load_policy(case.modules)
    err = e.value
    assert err.code == case.want_error.code
    lines = render(err.diagnostic, {"<text>": case.modules[0]}).splitlines()
    src, carets = lines[1][2:], lines[2][2:]
    start = carets.index("^")
    assert src[start:start + carets.count("^")] == case.want_error.underlined


@pytest.mark.parametrize("case", REFUSALS, ids=[c.note for c in REFUSALS])
def test_cli_check_refuses_with_exit_2(case: Case, tmp_path, capsys):
    paths = _write(tmp_path, case)
    assert main(["check", *paths]) == 2
    err = capsys.readouterr().err
    assert f": {case.want_error.code}: " in err
    assert case.want_error.underlined.splitlines()[0] in err
