"""Every command, every file and flag slot, every hostile value (issue #13, "Done when").

`SLOTS` names, for each command the CLI has, every flag and positional argument of its
argparse parser and the kind of value it takes; `test_the_table_is_the_parsers` checks
the table against the real parsers, so a command or a slot added without hostile
coverage fails here. Each slot is then given each hostile value of its kind (bytes that
are not UTF-8, empty files, directories and missing files where files are expected,
files past the size limit, YAML bombs and deep nesting, NaN and infinite numbers, bad
numbers and choices, text that is not UTF-8 or holds a NUL), with everything else on the
command line valid, and must end in exit 2 with a diagnostic that starts with the file
(and its line and column where there is one) or the flag, no traceback, and never the
password of the DSN the command was given. Commands run in-process through
`policydiff.cli.main`; commands that use a database are pointed at one where nothing
listens, so a value is refused before any connection is made.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from policydiff.cli import main
from tests.test_hostile import (
    CLASSES,
    INPUT,
    TENANCY,
    V1,
    V2,
    _analysis_report,
    _bomb,
    _replay_file,
    leaf_commands,
    seeded,  # noqa: F401 - the fixture the profile cases use
)

SECRET = "S3cretPW"
NOWHERE = f"postgresql://app:{SECRET}@127.0.0.1:1/nowhere"
FILE_KINDS = ("policy", "input", "data", "tenancy", "classifications", "replay", "report",
              "profile")


class Slot:
    """One flag or positional argument of a command: the kind of value it takes, and the
    command line that gives it `value` (every other argument valid)."""

    def __init__(self, kind: str, argv: Callable[[str], list[str]] | None = None):
        self.kind = kind
        self.argv = argv


def _support() -> dict[str, str]:
    """Valid files the commands read beside the hostile one."""
    d = Path(_replay_file()).parent
    inp, ten = d / "in.json", d / "t.json"
    inp.write_text(json.dumps(INPUT))
    ten.write_text(json.dumps(TENANCY))
    return {"input": str(inp), "tenancy": str(ten), "replay": _replay_file(),
            "report": _analysis_report(), "out": str(d / "out.json"), "dir": str(d / "track")}


S = functools.cache(_support)


class _Support:
    """`_support()` when a command line is built, not when the tests are collected."""

    def __getitem__(self, key: str) -> str:
        return S()[key]


class _Base(list):
    """A command line of valid arguments, built when it is used."""

    def __init__(self, build: Callable[[], list[str]]):
        super().__init__()
        self._build = build

    def __add__(self, more):
        return self._build() + list(more)

    def __getitem__(self, i):
        return self._build()[i]

    def __iter__(self):
        return iter(self._build())


def _slots() -> dict[str, dict[str, Slot]]:
    s = _Support()
    replay = _Base(lambda: ["replay", "--v1", V1, "--v2", V2, "--requests", "10", "--output",
                            s["out"], "--dsn", NOWHERE])
    analyze = _Base(lambda: ["analyze", "--input", s["replay"], "--output", s["out"]])
    gate = _Base(lambda: ["gate", s["report"], "--dsn", NOWHERE])
    runbook = _Base(lambda: ["runbook", "--v1", V1, "--v2", V2, "--classifications", CLASSES,
                             "--output-dir", s["dir"], "--dsn", NOWHERE])
    eval_ = _Base(lambda: ["eval", V2, "--input", s["input"]])
    db_common = {"--dsn": Slot("dsn"), "--data-dir": Slot("data_dir")}

    def db(cmd: str, *rest: str, **more: Slot) -> dict[str, Slot]:
        # `--data-dir` is the embedded server's: given with no `--dsn`
        return {k: Slot(v.kind, v.argv or (lambda val, flag, r=rest: [
            "db", cmd, *r, *(["--dsn", NOWHERE] if flag != "--data-dir" else []), flag, val]))
            for k, v in {**db_common, **more}.items()}

    return {
        "check": {"policies": Slot("policy", lambda v, _: ["check", v])},
        "eval": {"policies": Slot("policy", lambda v, _: ["eval", v, "--input", s["input"]]),
                 "--input": Slot("input", lambda v, f: ["eval", V2, f, v]),
                 "--data": Slot("data", lambda v, f: eval_ + [f, v]),
                 "--decision": Slot("decision", lambda v, f: eval_ + [f, v]),
                 "--explain": Slot("switch")},
        "compare": {
            "paths": Slot("policy", lambda v, _: ["compare", v, V2]),
            "--v1": Slot("policy", lambda v, f: ["compare", f, v, "--v2", V2]),
            "--v2": Slot("policy", lambda v, f: ["compare", "--v1", V1, f, v]),
            "--v1-data": Slot("data", lambda v, f: ["compare", V1, V2, f, v]),
            "--v2-data": Slot("data", lambda v, f: ["compare", V1, V2, f, v]),
            "--data": Slot("data", lambda v, f: ["compare", V1, V2, f, v]),
            "--tenancy": Slot("tenancy", lambda v, f: ["compare", V1, V2, f, v]),
            "--dsn": Slot("dsn", lambda v, f: ["compare", V1, V2, f, v]),
            "--dimension": Slot("dimension", lambda v, f: ["compare", V1, V2, f, v]),
            "--decision": Slot("decision", lambda v, f: ["compare", V1, V2, f, v]),
            "--v1-decision": Slot("decision", lambda v, f: ["compare", V1, V2, f, v]),
            "--v2-decision": Slot("decision", lambda v, f: ["compare", V1, V2, f, v]),
            "--classifications": Slot("classifications", lambda v, f: ["compare", V1, V2, f, v]),
            "--strict": Slot("switch"),
            "--format": Slot("choice", lambda v, f: ["compare", V1, V2, f, v]),
            "--output": Slot("output", lambda v, f: ["compare", V1, V2, f, v]),
            "--git-base": Slot("git_ref", lambda v, f: ["compare", f"{f}={v}", V2])},
        "graph": {"policies": Slot("policy", lambda v, _: ["graph", "--tenancy", s["tenancy"], v]),
                  "--tenancy": Slot("tenancy", lambda v, f: ["graph", f, v]),
                  "--dsn": Slot("dsn", lambda v, f: ["graph", f, v]),
                  "--format": Slot("choice", lambda v, f: ["graph", f, v]),
                  "--output": Slot("output", lambda v, f: ["graph", "--tenancy", s["tenancy"], f, v])},
        "db migrate": db("migrate"), "db url": db("url"), "db stop": db("stop"),
        "db seed": db("seed", **{"--tenancy": Slot("tenancy"),
                                 **{f: Slot("count") for f in ("--enterprises", "--teams-per-enterprise",
                                                               "--users-per-team", "--resources-per-team")}}),
        "db verify": db("verify", **{"--format": Slot("choice")}),
        "db dump": db("dump", "--output", "-", **{"--output": Slot("output"), "--format": Slot("choice")}),
        "db snapshot": db("snapshot", "before", name=Slot("snapshot", lambda v, _: [
            "db", "snapshot", "--dsn", NOWHERE, v])),
        "db restore": db("restore", "before", name=Slot("snapshot", lambda v, _: [
            "db", "restore", "--dsn", NOWHERE, v]), **{"--force": Slot("switch")}),
        "db snapshots": db("snapshots", **{"--format": Slot("choice")}),
        "replay": {
            "--v1": Slot("policy", lambda v, f: ["replay", "--v1", v, *replay[3:]]),
            "--v2": Slot("policy", lambda v, f: ["replay", "--v1", V1, "--v2", v, *replay[5:]]),
            **{f: Slot("count", lambda v, f: replay + [f, v]) for f in ("--requests", "--parallel")},
            "--seed": Slot("int", lambda v, f: replay + [f, v]),
            "--metrics-port": Slot("port", lambda v, f: replay + [f, v]),
            "--output": Slot("output", lambda v, f: replay + [f, v]),
            "--decision-log": Slot("output", lambda v, f: replay + [f, v]),
            "--dsn": Slot("dsn", lambda v, f: replay + [f, v]),
            "--profile": Slot("profile", lambda v, f: replay + [f, v]),
            "--shard": Slot("shard", lambda v, f: replay + [f, v]),
            "--churn": Slot("rate", lambda v, f: replay + [f, v]),
            "--decision": Slot("decision", lambda v, f: replay + [f, v])},
        "analyze": {"--input": Slot("replay", lambda v, f: ["analyze", f, v, "--output", s["out"]]),
                    "--output": Slot("output", lambda v, f: ["analyze", "--input", s["replay"], f, v]),
                    "--classifications": Slot("classifications", lambda v, f: analyze + [f, v]),
                    "--format": Slot("choice", lambda v, f: analyze + [f, v]),
                    "--v1": Slot("policy", lambda v, f: analyze + [f, v]),
                    "--v2": Slot("policy", lambda v, f: analyze + [f, v]),
                    "--tenancy": Slot("tenancy", lambda v, f: analyze + [f, v]),
                    "--dsn": Slot("dsn", lambda v, f: analyze + [f, v])},
        "gate": {"reports": Slot("report", lambda v, _: ["gate", v, "--dsn", NOWHERE]),
                 "--dsn": Slot("dsn", lambda v, f: ["gate", s["report"], f, v]),
                 "--signoff": Slot("text", lambda v, f: gate + [f, v]),
                 "--latency-budget-ms": Slot("amount", lambda v, f: gate + [f, v]),
                 "--latency-factor": Slot("amount", lambda v, f: gate + [f, v]),
                 "--format": Slot("choice", lambda v, f: gate + [f, v]),
                 "--output": Slot("output", lambda v, f: gate + [f, v])},
        "promote": {"--dsn": Slot("dsn", lambda v, f: ["promote", "--v1", V1, "--v2", V2, f, v]),
                    **{f: Slot("policy", lambda v, f: ["promote", "--dsn", NOWHERE, f, v])
                       for f in ("--v1", "--v2")},
                    **{f: Slot("text", lambda v, f: ["promote", "--v1", V1, "--v2", V2, "--dsn",
                                                     NOWHERE, f, v]) for f in ("--ticket", "--reason")}},
        "rollback": {"--dsn": Slot("dsn", lambda v, f: ["rollback", f, v]),
                     "--reason": Slot("text", lambda v, f: ["rollback", "--dsn", NOWHERE, f, v]),
                     "--drill": Slot("switch"),
                     **{f: Slot("policy", lambda v, f: ["rollback", "--drill", "--dsn", NOWHERE, f, v])
                        for f in ("--v1", "--v2")},
                     "--snapshot": Slot("snapshot", lambda v, f: ["rollback", "--drill", "--dsn",
                                                                  NOWHERE, f, v])},
        "status": {"--dsn": Slot("dsn", lambda v, f: ["status", f, v]),
                   "--format": Slot("choice", lambda v, f: ["status", "--dsn", NOWHERE, f, v])},
        "runbook": {"--dsn": Slot("dsn", lambda v, f: runbook[:-2] + [f, v]),
                    "--v1": Slot("policy", lambda v, f: runbook + [f, v]),
                    "--v2": Slot("policy", lambda v, f: runbook + [f, v]),
                    "--classifications": Slot("classifications", lambda v, f: runbook + [f, v]),
                    "--signoff": Slot("text", lambda v, f: runbook + [f, v]),
                    "--output-dir": Slot("output_dir", lambda v, f: runbook + [f, v]),
                    "--resume": Slot("switch"),
                    "--latency-budget-ms": Slot("amount", lambda v, f: runbook + [f, v])},
    }


def _parser_slots(parser: argparse.ArgumentParser) -> set[str]:
    """A parser's slots: each flag by its first long name, each positional by its dest."""
    out = set()
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        out.add(next((o for o in a.option_strings if o.startswith("--")), None) or a.dest)
    return out


def test_the_table_is_the_parsers():
    table = _slots()
    leaves = leaf_commands()
    assert set(table) == set(leaves)
    for name, parser in leaves.items():
        assert set(table[name]) == _parser_slots(parser), name


# --------------------------------------------------------------------------- hostile values

LATIN1 = "x: \"Jos\xe9\"\n".encode("latin-1")
REGO_LATIN1 = "package p\n\nallow if input.name == \"Jos\xe9\"\n".encode("latin-1")
HUGE = 300 << 20  # past the readers' limit; a sparse file costs no disk


class Hostile:
    """A hostile value: what to make, the code it must be refused with (a regex), and
    whether the diagnostic must carry a line and column."""

    def __init__(self, make: Callable[[Path, str], str], code: str, line: bool = False):
        self.make, self.code, self.line = make, code, line


def _file(name: str, content: bytes | str) -> Callable[[Path, str], str]:
    def make(tmp: Path, kind: str) -> str:
        f = tmp / "h" / (name.format(ext=_EXT[kind]))
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(f)
    return make


def _huge(tmp: Path, kind: str) -> str:
    f = tmp / "h" / f"huge.{_EXT[kind]}"
    f.parent.mkdir(exist_ok=True)
    with open(f, "wb") as out:
        out.truncate(HUGE)
    return str(f)


class _Writer(threading.Thread):
    """Feeds a FIFO `content` each time a reader opens it, counting the opens: a command
    must read a FIFO once (a second open would wait for a writer that is gone)."""

    def __init__(self, path: Path, content: bytes):
        super().__init__(daemon=True)
        self.path, self.content, self.opens = path, content, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:  # ENXIO: no reader yet
                assert e.errno == errno.ENXIO, e
                time.sleep(0.005)
                continue
            self.opens += 1
            try:
                os.write(fd, self.content)
            finally:
                os.close(fd)
            time.sleep(0.05)  # the reader sees the end before it could open again


WRITERS: dict[str, _Writer] = {}
# Commands that read their files at several steps refuse a FIFO unread (it would be empty,
# or block, the second time): `unreadable_file` naming it, and no open at all.
REREAD = {"runbook"}


def _fifo(tmp: Path, kind: str, suffix: bool = True) -> str:
    """A FIFO (as `<(...)` gives one, named `/dev/fd/N`: with no suffix when not `suffix`)."""
    f = tmp / "h" / (f"fifo.{_EXT[kind]}" if suffix else "fifo")
    f.parent.mkdir(exist_ok=True)
    os.mkfifo(f)
    writer = WRITERS[str(f)] = _Writer(f, REGO_LATIN1 if kind == "policy" else LATIN1)
    writer.start()
    return str(f)


def _directory(tmp: Path, kind: str) -> str:
    d = tmp / "h" / f"dir.{_EXT[kind]}"
    d.mkdir(parents=True)
    return str(d)


_EXT = {"policy": "rego", "input": "json", "data": "json", "tenancy": "json",
        "classifications": "yaml", "replay": "json", "report": "json", "profile": "yaml",
        "yaml": "yaml"}

ANY = r"[a-z_0-9]+"
FILES = {
    "not-utf8": Hostile(lambda t, k: _file("latin1.{ext}", REGO_LATIN1 if k == "policy" else LATIN1)(t, k),
                        "not_utf8", line=True),
    "empty": Hostile(_file("empty.{ext}", b""), ANY),
    "directory": Hostile(_directory, "unreadable_file|no_policy"),
    "missing": Hostile(lambda t, k: str(t / "h" / f"missing.{_EXT[k]}"), "unreadable_file"),
    "huge": Hostile(_huge, "file_too_large"),
    "fifo": Hostile(_fifo, "not_utf8", line=True),
    "fifo-bare": Hostile(lambda t, k: _fifo(t, k, suffix=False), "not_utf8", line=True),
}
YAML = {
    "alias-bomb": Hostile(lambda t, k: _file("bomb.yaml", _bomb())(t, k), "yaml_alias_bomb", line=True),
    "deep": Hostile(lambda t, k: _file("deep.yaml", "[" * 5000 + "]" * 5000)(t, k), "yaml_too_deep",
                    line=True),
    "nan-json": Hostile(lambda t, k: _file("nan.json", '{"x": NaN}')(t, k), ANY, line=True),
    "inf-json": Hostile(lambda t, k: _file("inf.json", '{"x": [1, -Infinity]}')(t, k), ANY, line=True),
    "nan-yaml": Hostile(lambda t, k: _file("nan.yaml", "x: .nan\n")(t, k), ANY, line=True),
    "binary-tag": Hostile(lambda t, k: _file("tag.yaml", "x: !!binary aGVsbG8=\n")(t, k), "bad_input",
                          line=True),
    "set-tag": Hostile(lambda t, k: _file("tag.yaml", "x: !!set {a, b}\n")(t, k), "bad_input", line=True),
}
DEEP_JSON = Hostile(lambda t, k: _file("deep.json", "[" * 100_000 + "]" * 100_000)(t, k),
                   "too_deep|yaml_too_deep|syntax_error")
# documents whose values are not checked against a schema: NaN must be refused as such,
# where it stands (elsewhere a schema may refuse the field first)
FREE_FORM = {"input", "data"}
JSON_ONLY = {"replay", "report"}  # files only `policydiff` writes, always JSON


def _tenancy(change: Callable[[dict], None]) -> str:
    t = json.loads(json.dumps(TENANCY))
    change(t)
    return json.dumps(t, indent=1)  # JSON is YAML: a `.yaml` name gives positions


# values that only one kind of file can hold wrongly
KIND_FILES = {
    "tenancy": {
        "duplicate-user": Hostile(_file("dup.yaml", _tenancy(lambda t: t["users"].append(t["users"][0]))),
                                  "invalid_tenancy", line=True),
        "duplicate-resource": Hostile(_file("dup.yaml", _tenancy(
            lambda t: t["resources"].append(t["resources"][0]))), "invalid_tenancy", line=True),
        "duplicate-action": Hostile(_file("dup.json", _tenancy(lambda t: t["actions"].append(t["actions"][0]))),
                                    "invalid_tenancy"),
        "nul-id": Hostile(_file("nul.yaml", _tenancy(lambda t: t["users"][0].update(id="u\x00x"))),
                          "invalid_tenancy", line=True),
    },
    "classifications": {
        f"bad-date-{d}": Hostile(_file("c.yaml", "version: 1\nrules:\n  - id: a\n    class: bug\n"
                                       f"    match: {{role: x}}\n    reason: r\n    expires: {d}\n"),
                                 "invalid_value", line=True)
        for d in ("2026-13-01", "2027-02-30", "31.03.2027")},
}
KIND_FILES["classifications"]["duplicate-rule-id"] = Hostile(_file("c.yaml", "version: 1\nrules:\n" + (
    "  - id: a\n    class: bug\n    match: {role: x}\n    reason: r\n" * 2)), "duplicate_rule_id", line=True)
KIND_FILES["policy"] = {
    "duplicate-role": Hostile(_file("roles.yaml", "version: 1\npackage: roles\nroles:\n"
                                    "  admin:\n    grants: [{actions: [\"*\"], scope: global}]\n"
                                    "  admin:\n    grants: [{actions: [\"*\"], scope: global}]\n"),
                              "duplicate_key|invalid_roletable", line=True),
    "role-table-binary": Hostile(_file("roles.yaml", "version: 1\npackage: !!binary aGVsbG8=\n"),
                                 "bad_input", line=True)}


def _text(value: str) -> Callable[[Path, str], str]:
    return lambda tmp, kind: value


NOT_UTF8_ARG = "x\udcffy"  # how Python hands over an argument whose bytes are not UTF-8
FLAGS = {
    "count": {"negative": "-5", "zero": "0", "word": "many", "huge": "9" * 30},
    "int": {"word": "many", "huge": "9" * 30},
    "port": {"negative": "-1", "too-big": "70000", "word": "http"},
    "rate": {"negative": "-1", "nan": "nan", "inf": "inf", "word": "fast"},
    "amount": {"negative": "-1", "nan": "nan", "inf": "inf", "word": "soon"},
    "choice": {"unknown": "pdf"},
    "shard": {"reversed": "3/2", "zero": "0/0", "words": "a/b"},
    "decision": {"trailing-dot": "data.", "not-data": "input.x", "nul": "data.p\x00.allow"},
    "dimension": {"no-equals": "role", "no-name": "=input.x", "not-a-path": "role=input.user role"},
    "text": {"nul": "Ada\x00Lovelace"},
    "snapshot": {"slash": "../before", "nul": "be\x00fore"},
    "git_ref": {"option": "--upload-pack=evil", "nul": "HEAD\x00"},
    "dsn": {"no-scheme": f"app:{SECRET}@127.0.0.1", "bad-port": f"postgresql://app:{SECRET}@h:port/db",
            "bad-percent": f"postgresql://app:%zz{SECRET}@127.0.0.1/db",
            "password-not-utf8": f"postgresql://app:{SECRET}\udcff@127.0.0.1:1/db"},
}
ARG_NOT_UTF8 = {"count", "int", "port", "rate", "amount", "choice", "shard", "decision",
                "dimension", "text", "snapshot", "git_ref", "dsn", "policy", "input", "data",
                "tenancy", "classifications", "replay", "report", "profile", "output",
                "output_dir", "data_dir"}


def _outputs() -> dict[str, Hostile]:
    def directory(tmp: Path, kind: str) -> str:
        (tmp / "h" / "out.d").mkdir(parents=True)
        return str(tmp / "h" / "out.d")
    return {"directory": Hostile(directory, "unwritable_file"),
            "no-parent": Hostile(lambda t, k: str(t / "h" / "nowhere" / "out.json"), "unwritable_file")}


def _data_dirs() -> dict[str, Hostile]:
    def a_file(tmp: Path, kind: str) -> str:
        f = tmp / "h" / "pgdata"
        f.parent.mkdir(exist_ok=True)
        f.write_text("not a directory\n")
        return str(f)
    return {"a-file": Hostile(a_file, "unreadable_file")}


def _output_dirs() -> dict[str, Hostile]:
    return {"a-file": Hostile(_data_dirs()["a-file"].make, "unwritable_file")}


# the flag kinds and the codes their bad values are refused with
FLAG_CODES = {"count": "bad_flag|invalid_value|invalid_scale", "int": "bad_flag|invalid_value",
              "port": "bad_flag|invalid_value", "rate": "bad_flag|invalid_value",
              "amount": "bad_flag|invalid_value", "choice": "bad_flag|unknown_format",
              "shard": "bad_flag|invalid_value", "decision": "bad_decision",
              "dimension": "bad_dimension", "text": "invalid_value|bad_flag",
              "snapshot": "invalid_snapshot_name", "git_ref": "invalid_git_ref|unknown_git_ref",
              "dsn": "invalid_dsn|bad_flag|not_utf8"}  # `db stop` refuses any `--dsn`

# slots whose values are read only once connected to a database (`test_hostile.py`
# covers `replay --profile` against a real server)
AFTER_CONNECTING = {("replay", "--profile")}


def cases() -> list[tuple[str, str, str, Hostile]]:
    out = []
    for command, slots in _slots().items():
        for slot, spec in slots.items():
            if spec.kind == "switch" or (command, slot) in AFTER_CONNECTING:
                continue
            if spec.kind in FILE_KINDS:
                values = dict(FILES)
                if spec.kind in JSON_ONLY:
                    values.update({k: v for k, v in YAML.items() if k.endswith("-json")})
                    values["deep-json"] = DEEP_JSON
                else:
                    values.update({k: v for k, v in YAML.items()
                                   if spec.kind != "policy" or k in ("alias-bomb", "deep", "binary-tag")})
                if spec.kind != "policy":
                    values["deep-json"] = DEEP_JSON
                values.update(KIND_FILES.get(spec.kind, {}))
            elif spec.kind == "output":
                values = _outputs()
            elif spec.kind == "data_dir":
                values = _data_dirs()
            elif spec.kind == "output_dir":
                values = _output_dirs()
            else:
                values = {k: Hostile(_text(v), "bad_flag" if k == "nul" else FLAG_CODES[spec.kind])
                          for k, v in FLAGS[spec.kind].items()}
            if spec.kind in ARG_NOT_UTF8:
                values["argv-not-utf8"] = Hostile(_text(NOT_UTF8_ARG), "not_utf8")
            for name, hostile in values.items():
                out.append((command, slot, name, hostile))
    return out


CASES = cases()


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command,slot,name,hostile", CASES,
                         ids=[f"{c}:{s}:{n}" for c, s, n, _ in CASES])
def test_every_slot_refuses_every_hostile_value(capsys, tmp_path, command, slot, name, hostile):
    spec = _slots()[command][slot]
    value = hostile.make(tmp_path, "yaml" if name in YAML and spec.kind == "policy" else spec.kind)
    flag = slot if slot.startswith("--") else None
    argv = spec.argv(value, flag) if spec.argv else None
    assert argv is not None, (command, slot)
    code, out, err = run(capsys, argv)
    writer = WRITERS.pop(value, None)
    if writer is not None:
        writer.done.set()
        writer.join()
        assert writer.opens == (0 if command in REREAD else 1), (argv, writer.opens)
    assert code == 2, (argv, code, out, err)
    assert "Traceback" not in out + err, err
    assert SECRET not in out + err, err
    if name == "argv-not-utf8":
        where = re.escape(flag) if flag else r"argument \d+"
    elif spec.kind in FILE_KINDS:
        line = hostile.line and (spec.kind in FREE_FORM or not name.startswith(("nan", "inf")))
        where = re.escape(value) + (r":\d+:\d+" if line else r"(:\d+:\d+)?")
    elif spec.kind in ("output", "output_dir", "data_dir"):
        where = f"{re.escape(value)}|{re.escape(flag)}"
    else:
        where = re.escape(flag) if flag else rf"{slot}|argument \d+"
    if command in REREAD and name.startswith("fifo"):
        pattern, where = "unreadable_file", re.escape(value)
    elif spec.kind in FREE_FORM and name.startswith(("nan", "inf")):
        pattern = "bad_input"
    elif name.startswith(("nan", "inf")):
        pattern = ANY
    else:
        pattern = hostile.code
    assert re.search(rf"^({where}): ({pattern}): ", err, re.MULTILINE), (argv, err)


def test_an_unknown_flag_is_a_diagnostic_naming_it(capsys):
    for name, slots in _slots().items():
        # a valid command line: the first slot that takes a file given a good one
        valid = next((spec.argv(V2 if spec.kind == "policy" else NOWHERE, slot) for slot, spec
                      in slots.items() if spec.kind in ("policy", "dsn") and spec.argv), [*name.split()])
        code, _, err = run(capsys, [*valid, "--no-such-flag", "1"])
        assert code == 2, (name, err)
        assert re.search(r"^--no-such-flag: bad_flag: ", err, re.MULTILINE), (name, err)
        assert "usage:" not in err and "Traceback" not in err


def test_every_numeric_flag_has_a_bound():
    """`cli/common.BOUNDS` is the one place numeric flags are bounded: a new one without
    a range fails here."""
    from policydiff.cli.common import BOUNDS

    numeric = {a.dest for p in leaf_commands().values() for a in p._actions if a.type in (int, float)}
    assert numeric == set(BOUNDS)


def test_db_seed_refuses_a_scale_past_its_row_limit(capsys):
    code, out, err = run(capsys, ["db", "seed", "--enterprises", "10", "--teams-per-enterprise", "100",
                                  "--users-per-team", "20000", "--dsn", NOWHERE])
    assert code == 2, err
    assert re.search(r"^--users-per-team: invalid_scale: this scale seeds [\d,]+ rows, more than "
                     r"the 10,000,000", err, re.MULTILINE), err
    assert SECRET not in out + err


def _nargs(command: str, flag: str):
    return next(a.nargs for a in leaf_commands()[command]._actions if flag in a.option_strings)


URLS = {**FLAGS["dsn"], "not-utf8": f"postgresql://app:{SECRET}\udcff@127.0.0.1:1/db"}


@pytest.mark.parametrize("shape", URLS.values(), ids=list(URLS))
def test_a_malformed_database_url_is_refused_by_every_command_that_reads_it(capsys, monkeypatch, shape):
    """`DATABASE_URL` is where a password most often sits: every command that falls back
    to it refuses a malformed one naming it, without printing the password."""
    monkeypatch.setenv("DATABASE_URL", shape)
    for command, slots in _slots().items():
        if "--dsn" not in slots or command == "db stop":
            continue
        argv = slots["--dsn"].argv("@", "--dsn")
        i = argv.index("@")
        argv[i - 1:i + 1] = ["--dsn"] if _nargs(command, "--dsn") == "?" else []
        argv = [a for j, a in enumerate(argv) if not (a == NOWHERE or (a == "--dsn" and j + 1 < len(argv)
                                                                      and argv[j + 1] == NOWHERE))]
        code, out, err = run(capsys, argv)
        assert code == 2, (argv, code, err)
        assert re.search(r"^DATABASE_URL: (invalid_dsn|not_utf8): ", err, re.MULTILINE), (argv, err)
        assert SECRET not in out + err and "Traceback" not in err, (argv, err)


PROFILE_CASES = [(n, h) for n, h in {**FILES, **YAML}.items() if not n.endswith("-json")]


@pytest.mark.parametrize("name,hostile", PROFILE_CASES, ids=[n for n, _ in PROFILE_CASES])
def test_replay_refuses_every_hostile_profile(capsys, tmp_path, seeded, name, hostile):  # noqa: F811
    """`replay --profile` is read against the tenancy, once connected: these few run
    against the embedded server."""
    value = hostile.make(tmp_path, "profile")
    argv = ["replay", "--v1", V1, "--v2", V2, "--requests", "10", "--output", str(tmp_path / "out.json"),
            "--dsn", seeded, "--profile", value]
    code, out, err = run(capsys, argv)
    writer = WRITERS.pop(value, None)
    if writer is not None:
        writer.done.set()
        writer.join()
        assert writer.opens == 1
    assert code == 2, (argv, code, err)
    assert "Traceback" not in out + err
    line = r":\d+:\d+" if hostile.line and not name.startswith(("nan", "inf")) else r"(:\d+:\d+)?"
    pattern = ANY if name.startswith(("nan", "inf")) else hostile.code
    assert re.search(rf"^{re.escape(value)}{line}: ({pattern}): ", err, re.MULTILINE), err


@pytest.mark.parametrize("ref", ["", "a..b", "data.", "1x", "a-b"])
def test_a_bad_data_reference_names_the_flag(capsys, tmp_path, ref):
    doc = tmp_path / "d.json"
    doc.write_text("{}")
    code, _, err = run(capsys, ["compare", V1, V2, "--data", f"{ref}={doc}"])
    assert code == 2 and re.search(r"^--data: bad_data: ", err, re.MULTILINE), err


@pytest.mark.parametrize("argv,where", [
    (["compare", V1], "V1 V2"), (["compare", V1, V2, "--v1", V1], "--v2"),
    (["compare", "--v1", V1], "--v2"), (["compare", "--git-base", "HEAD"], "--git-base")])
def test_a_missing_policy_names_what_is_missing(capsys, argv, where):
    code, _, err = run(capsys, argv)
    assert code == 2 and err.startswith(f"{where}: missing_policy: "), err


def test_a_real_process_gets_the_same_refusals(tmp_path):
    """The in-process cases stand for what a shell hands over: bytes that are not UTF-8
    in argv and in DATABASE_URL, and a policy on a pipe (`/dev/stdin`), checked once
    through a real process."""
    import subprocess
    import sys

    def policydiff(*argv, env=None, stdin=b""):
        return subprocess.run([sys.executable, "-m", "policydiff", *argv], input=stdin, capture_output=True,
                              check=False,
                              env={**os.environ, **(env or {})}, cwd=tmp_path, timeout=120)

    bad = policydiff("check", os.fsdecode(b"caf\xe9.rego"))
    assert bad.returncode == 2 and bad.stderr.startswith(b"argument 2: not_utf8: "), bad.stderr
    url = policydiff("status", env={"DATABASE_URL": os.fsdecode(b"postgresql://app:" + SECRET.encode()
                                                                + b"\xff@127.0.0.1:1/db")})
    assert url.returncode == 2 and url.stderr.startswith(b"DATABASE_URL: not_utf8: "), url.stderr
    assert SECRET.encode() not in url.stdout + url.stderr
    piped = policydiff("check", "/dev/stdin", stdin=b"package p\nallow if {\n")
    assert piped.returncode == 2 and piped.stderr.startswith(b"/dev/stdin:2:"), piped.stderr
    assert b"allow if {" in piped.stderr  # the line quoted from the text read once
    for run_ in (bad, url, piped):
        assert b"Traceback" not in run_.stderr


def test_an_output_that_is_an_input_is_refused(capsys, tmp_path):
    v2 = tmp_path / "v2.rego"
    v2.write_bytes(Path(V2).read_bytes())
    run_file = tmp_path / "run.json"
    run_file.write_bytes(Path(S()["replay"]).read_bytes())
    for argv in (["compare", V1, str(v2), "--output", str(v2)],
                 ["compare", "--v1", V1, "--v2", str(v2), "--output", str(v2)],
                 ["graph", str(v2), "--tenancy", S()["tenancy"], "--output", str(v2)],
                 ["analyze", "--input", str(run_file), "--output", str(run_file)],
                 ["replay", "--v1", V1, "--v2", str(v2), "--requests", "10", "--output", str(v2),
                  "--dsn", NOWHERE]):
        code, _, err = run(capsys, argv)
        assert code == 2 and err.startswith("--output: unwritable_file: "), (argv, err)
    assert v2.read_bytes() == Path(V2).read_bytes()
    assert run_file.read_bytes() == Path(S()["replay"]).read_bytes()
