"""Hostile inputs through every command: non-UTF-8 bytes, byte order marks, YAML bombs and
deep nesting, deep but legal policies, duplicate ids, bad dates, empty files, directories
where files are expected, and malformed DSNs that carry a password. Each bad input must
end in exit 2 with a diagnostic that names the file (and the line and column where there
is one), never a traceback, never the password. Commands run in-process through
`policydiff.cli.main`."""

from __future__ import annotations

import argparse
import functools
import json
import re
import string
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policydiff.cli import build_parser, main
from tests.engines import OpaEngine
from tests.replayfiles import replay_report, write

ROOT = Path(__file__).resolve().parents[1]
V1 = str(ROOT / "policies" / "rbac_v1.rego")
V2 = str(ROOT / "policies" / "rbac_v2.rego")
CLASSES = str(ROOT / "classifications" / "rbac_v2.yaml")
# no server listens here: a command that gets as far as connecting exits 3, so a check
# that expects 2 shows that the bad input was refused before any connection
NOWHERE = "postgresql://policydiff@127.0.0.1:1/nowhere"
INPUT = {"subject": {"id": "u", "enterprise": "e", "role": "admin", "teams": []},
         "action": "project:read", "resource": {"id": "r", "kind": "project", "enterprise": "e",
                                                "team": None}}
TENANCY = {"enterprises": [{"id": "e", "teams": ["t"]}],
           "users": [{"id": "u", "enterprise": "e", "role": "admin", "teams": ["t"]}],
           "resources": [{"id": "r", "kind": "project", "enterprise": "e", "team": "t"}],
           "actions": ["project:read"]}
TABLE = "version: 1\npackage: roles\nroles:\n  admin:\n    grants: [{actions: [\"*\"], scope: global}]\n"
RULES = "version: 1\nrules: []\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own refusals: exit 2 naming the flag
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, argv, file, code_name, *, position=True, line=None, secret=None):
    """Exit 2, `file:line:col: code` (or `file: code`), no traceback, no secret."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err + out
    at = rf":{line}:\d+" if line else r":\d+:\d+"
    where = re.escape(str(file)) + (at if position or line else r"(:\d+:\d+)?")
    assert re.search(where + ": " + code_name, err), err
    if secret:
        assert secret not in out + err
    return err


# --------------------------------------------------------------------------- the files

LATIN1 = "package p\n\nallow if input.name == \"Jos\xe9\"\n".encode("latin-1")


def _bomb() -> str:
    text = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text


@functools.cache
def _replay_file() -> str:
    """A real replay file of the example policies (tests/replayfiles.py), for the commands
    that read one beside the hostile file."""
    from policydiff.tenancy import decode_tenancy

    path = Path(tempfile.mkdtemp(prefix="policydiff-hostile-")) / "run.json"
    return str(write(replay_report(V1, V2, decode_tenancy(json.dumps(TENANCY)), requests=50), path))


def commands(f: Path, kind: str) -> list[list[str]]:
    """Every command that reads a file of `kind`, reading `f` as it. Commands that use a
    database get one where nothing listens (`NOWHERE`): the file must be refused first."""
    support = f.parent / ".support"  # hidden: a directory of policies skips it
    support.mkdir(exist_ok=True)
    inp, ten, out = support / "in.json", support / "t.json", str(support / "out.json")
    inp.write_text(json.dumps(INPUT))
    ten.write_text(json.dumps(TENANCY))
    run_file, track = _replay_file(), str(support / "track")
    return {
        "policy": [["check", str(f)], ["eval", str(f), "--input", str(inp)], ["compare", str(f), V2],
                   ["compare", V1, str(f)], ["graph", "--tenancy", str(ten), str(f)],
                   ["replay", "--v1", str(f), "--v2", V2, "--requests", "10", "--output", out,
                    "--dsn", NOWHERE],
                   ["analyze", "--input", run_file, "--output", out, "--v2", str(f)],
                   ["promote", "--v1", V1, "--v2", str(f), "--dsn", NOWHERE],
                   ["rollback", "--drill", "--v1", str(f), "--v2", V2, "--dsn", NOWHERE],
                   ["runbook", "--v1", str(f), "--v2", V2, "--classifications", CLASSES,
                    "--output-dir", track, "--dsn", NOWHERE]],
        "input": [["eval", V2, "--input", str(f)]],
        "data": [["eval", V2, "--input", str(inp), "--data", str(f)],
                 ["compare", V1, V2, "--v2-data", str(f)]],
        "tenancy": [["compare", V1, V2, "--tenancy", str(f)], ["graph", "--tenancy", str(f)],
                    ["db", "seed", "--tenancy", str(f)],
                    ["analyze", "--input", run_file, "--output", out, "--tenancy", str(f)]],
        "classifications": [["compare", V1, V2, "--classifications", str(f)],
                            ["analyze", "--input", run_file, "--output", out,
                             "--classifications", str(f)],
                            ["runbook", "--classifications", str(f), "--output-dir", track,
                             "--dsn", NOWHERE]],
        "replay": [["analyze", "--input", str(f), "--output", out]],
        "report": [["gate", str(f), "--dsn", NOWHERE]],
    }[kind]


BAD_BYTES = [LATIN1, b"package p\n\xff\xfe\x00garbage", bytes(range(256))]


@pytest.mark.parametrize("raw", BAD_BYTES, ids=["latin1", "bom16", "all-bytes"])
@pytest.mark.parametrize("kind,name", [("policy", "p.rego"), ("policy", "roles.yaml"),
                                       ("policy", "roles.toml"), ("input", "in.json"),
                                       ("data", "d.yaml"), ("tenancy", "t.yaml"),
                                       ("classifications", "c.yaml"), ("replay", "run.json"),
                                       ("report", "gate.json")])
def test_not_utf8_is_refused_at_its_first_bad_byte(capsys, tmp_path, raw, kind, name):
    f = tmp_path / "x" / name
    f.parent.mkdir()
    f.write_bytes(raw)
    first = raw.decode("utf-8", "replace").index("\ufffd")
    line = raw.decode("utf-8", "replace")[:first].count("\n") + 1
    for argv in commands(f, kind):
        refused(capsys, argv, f, "not_utf8", line=line)


def test_a_byte_order_mark_is_accepted_as_opa_does(capsys, tmp_path):
    rego = tmp_path / "p.rego"
    rego.write_bytes(b"\xef\xbb\xbf" + Path(V2).read_bytes())
    toml = tmp_path / "roles.toml"
    toml.write_bytes(b'\xef\xbb\xbfversion = 1\npackage = "roles"\n[roles.admin]\n'
                     b'grants = [{ actions = ["*"], scope = "global" }]\n')
    code, out, err = run(capsys, "check", str(rego), str(toml))
    assert code == 0 and out.count(": ok") == 2, err
    opa = OpaEngine({"p.rego": rego.read_text(encoding="utf-8")})
    try:
        code, out, _ = run(capsys, "eval", str(rego), "--input", str(_write(tmp_path, INPUT)))
        assert json.loads(out)["result"] == opa.evaluate("data.rbac.v2.allow", INPUT)
    finally:
        opa.close()


def _write(tmp_path: Path, doc) -> Path:
    f = tmp_path / "doc.json"
    f.write_text(json.dumps(doc))
    return f


@pytest.mark.parametrize("kind,name", [("policy", "roles.yaml"), ("input", "in.yaml"),
                                       ("data", "d.yaml"), ("tenancy", "t.yaml"),
                                       ("classifications", "c.yaml")])
@pytest.mark.parametrize("text,code_name", [(_bomb(), "yaml_alias_bomb"),
                                            ("[" * 5000 + "]" * 5000, "yaml_too_deep"),
                                            ("a: &x [*x]\n", "syntax_error")],
                         ids=["alias-bomb", "deep", "recursive"])
def test_yaml_bombs_are_refused_quickly_by_every_reader(capsys, tmp_path, kind, name, text, code_name):
    f = tmp_path / "x" / name
    f.parent.mkdir()
    f.write_text(text)
    for argv in commands(f, kind):
        started = time.monotonic()
        refused(capsys, argv, f, code_name)
        assert time.monotonic() - started < 30  # a bomb expanded would take minutes


# ------------------------------------------------------------------- deep, legal policies


def _chain(n):
    return "".join(f"r{i} if r{i + 1}\n" for i in range(n)) + f"r{n} if input.x == 1\nallow if r0\n"


def _nested(n, open_, close, inner="1"):
    return open_ * n + inner + close * n


def _comprehensions(n):
    term = "1"
    for _ in range(n):
        term = f"[x | x := {term}]"
    return term


DEEP = {"chain-110": _chain(110),
        "sum-330": "v := " + " + ".join(["1"] * 330) + "\nallow if v == 330\n",
        "array-330": "v := " + _nested(330, "[", "]") + "\nallow if v\n",
        "object-330": "v := " + _nested(330, '{"a": ', "}") + "\nallow if v\n",
        "comprehensions-200": "v := " + _comprehensions(200) + "\nallow if v\n"}


@pytest.mark.parametrize("name", DEEP)
def test_deep_legal_policies_evaluate_as_opa_does(capsys, tmp_path, name):
    text = "package p\n" + DEEP[name]
    f = tmp_path / f"{name}.rego"
    f.write_text(text)
    if name.startswith("comprehensions"):
        # OPA 1.20 (embedded) does not finish 200 nested comprehensions in minutes; the
        # value is known without it: each `[x | x := T]` wraps T in one array
        expected = 1
        for _ in range(200):
            expected = [expected]
    else:
        opa = OpaEngine({f.name: text})
        try:
            expected = opa.evaluate("data.p.v" if "v :=" in text else "data.p.allow", {"x": 1})
        finally:
            opa.close()
    code, out, err = run(capsys, "eval", str(f), "--input", str(_write(tmp_path, {"x": 1})),
                         "--decision", "data.p.v" if "v :=" in text else "data.p.allow")
    assert code == 0, err
    assert json.loads(out)["result"] == expected
    assert run(capsys, "compare", str(f), str(f))[0] == 0


@pytest.mark.parametrize("open_,close", [("[", "]"), ("(", ")"), ('{"a": ', "}")])
def test_nesting_past_the_limit_is_refused_at_its_position(capsys, tmp_path, open_, close):
    f = tmp_path / "deep.rego"
    f.write_text("package p\nv := " + _nested(1500, open_, close) + "\n")
    for argv in commands(f, "policy"):
        refused(capsys, argv, f, "too_deep")


# -------------------------------------------------------------- records and other files


@pytest.mark.parametrize("field,dup", [("users", 0), ("resources", 0), ("actions", 0),
                                       ("enterprises", 0)])
def test_duplicate_ids_in_a_tenancy_are_refused(capsys, tmp_path, field, dup):
    tenancy = json.loads(json.dumps(TENANCY))
    tenancy[field].append(tenancy[field][dup])
    f = tmp_path / "t.yaml"
    f.write_text(json.dumps(tenancy))  # JSON is YAML: positions come from the YAML reader
    for argv in commands(f, "tenancy"):
        refused(capsys, argv, f, "invalid_tenancy")


@pytest.mark.parametrize("date", ["2026-13-01", "2027-02-30", "2027-1-1", "31.03.2027",
                                  "2027-03-31T25:00:00"])
def test_bad_dates_in_a_classification_file(capsys, tmp_path, date):
    f = tmp_path / "c.yaml"
    f.write_text(f"version: 1\nrules:\n  - id: a\n    class: bug\n    match: {{role: x}}\n"
                 f"    reason: r\n    expires: {date}\n")
    for argv in commands(f, "classifications"):
        refused(capsys, argv, f, "invalid_value", line=7)


@pytest.mark.parametrize("kind,name,code_name", [
    ("policy", "p.rego", "rego_parse_error"), ("policy", "roles.yaml", "invalid_roletable"),
    ("input", "in.json", "syntax_error"), ("tenancy", "t.json", "invalid_tenancy"),
    ("tenancy", "t.yaml", "invalid_tenancy"), ("classifications", "c.yaml", "invalid_type"),
    ("replay", "run.json", "syntax_error"), ("report", "gate.json", "syntax_error")])
def test_empty_files(capsys, tmp_path, kind, name, code_name):
    f = tmp_path / "x" / name
    f.parent.mkdir()
    f.write_text("")
    for argv in commands(f, kind):
        err = refused(capsys, argv, f, code_name, position=False)
        assert "is empty" in err or kind in ("policy", "input", "classifications"), err


@pytest.mark.parametrize("kind", ["input", "data", "tenancy", "classifications", "replay", "report"])
def test_a_directory_where_a_file_is_expected(capsys, tmp_path, kind):
    d = tmp_path / "x" / "dir.yaml"
    d.mkdir(parents=True)
    for argv in commands(d, kind):
        refused(capsys, argv, d, "unreadable_file", position=False)


def test_a_file_where_the_track_directory_is_expected(capsys, tmp_path):
    f = tmp_path / "track"
    f.write_text("a file\n")
    # refused before any work, naming the flag
    refused(capsys, ["runbook", "--v1", V1, "--v2", V2, "--classifications", CLASSES,
                     "--output-dir", str(f), "--dsn", NOWHERE], "--output-dir", "unwritable_file",
            position=False)


def test_a_directory_without_policies(capsys, tmp_path):
    (tmp_path / "README.md").write_text("# notes\n")
    for argv in commands(tmp_path, "policy")[:4]:
        refused(capsys, argv, tmp_path, "no_policy", position=False)


# ----------------------------------------------------------------------- DSN passwords

PASSWORD = st.text(string.ascii_letters + string.digits + "%!#$^*()_+-.~:;,/?[]{}'\\\"= ",
                   min_size=4, max_size=16).map(lambda s: "Pw" + s + "Zq")
SHAPES = [
    "{user}:{pw}@127.0.0.1", "postgresql://{user}:{pw}@127.0.0.1:1/db",
    "postgres://{user}:{pw}@", "postgresql://{user}:{pw}@127.0.0.1:port/db",
    "postgresql://{user}:{pw}@[::1/db", "host=127.0.0.1 port=1 password={pw} user={user}",
    "host=127.0.0.1 password='{pw}' port=x", "postgresql://{user}@127.0.0.1:1/db?password={pw}",
    "{pw}", "postgresql://{user}:{pw}@127.0.0.1:1/db?sslmode=bogus",
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.sampled_from(SHAPES), user=st.sampled_from(["app", "u", "neondb_owner"]),
       pw=PASSWORD, command=st.sampled_from([["db", "verify"], ["db", "snapshots"],
                                             ["compare", V1, V2], ["graph"]]))
def test_no_dsn_password_is_ever_printed(capsys, shape, user, pw, command):
    dsn = shape.format(user=user, pw=pw)
    if shape == "{pw}" and ("=" not in pw and "@" not in pw):
        return  # a bare word is no DSN and names no password
    code, out, err = run(capsys, *command, "--dsn", dsn)
    assert code in (2, 3), (code, err)
    assert "Traceback" not in err
    assert pw not in out + err
    assert pw.strip("'") not in out + err


# ------------------------------------------------------------- every command, every DSN

def leaf_commands(root: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every command the CLI has (`db seed` for a group's), from its own parser: a new
    command is in here the moment it is registered."""
    out = {}

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            out[" ".join(prefix)] = parser
        for g in groups:
            for name, sub in g.choices.items():
                walk(sub, (*prefix, name))

    walk(root or build_parser(), ())
    return out


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


# Each command that takes `--dsn`, with everything else it needs given and valid, so
# that the DSN is what is wrong.
def with_dsn(tmp: Path) -> dict[str, list[str]]:
    run_file, out = _replay_file(), str(tmp / "out.json")
    db = {f"db {c}": ["db", c] for c in ("migrate", "url", "stop", "seed", "verify", "snapshots")}
    return {
        **db, "db snapshot": ["db", "snapshot", "before"], "db restore": ["db", "restore", "before"],
        "db dump": ["db", "dump", "--output", str(tmp / "t.json")],
        "compare": ["compare", V1, V2], "graph": ["graph", V2],
        "replay": ["replay", "--v1", V1, "--v2", V2, "--requests", "10", "--output", out],
        "analyze": ["analyze", "--input", run_file, "--output", out],
        "gate": ["gate", _analysis_report()],
        "promote": ["promote", "--v1", V1, "--v2", V2], "rollback": ["rollback"],
        "status": ["status"],
        "runbook": ["runbook", "--v1", V1, "--v2", V2, "--classifications", CLASSES,
                    "--output-dir", str(tmp / "track")],
    }


# `db stop` stops the embedded server of `--data-dir`; the `--dsn` every `db` command
# takes is not used by it (and it prints none)
IGNORES_DSN = {"db stop"}


@functools.cache
def _analysis_report() -> str:
    """`analyze`'s report of the replay file, as the gate reads it."""
    out = Path(_replay_file()).with_name("analysis.json")
    tenancy = out.with_name("tenancy.json")
    tenancy.write_text(json.dumps(TENANCY))
    main(["analyze", "--input", _replay_file(), "--output", str(out), "--format", "json",
          "--classifications", CLASSES, "--tenancy", str(tenancy)])
    assert json.loads(out.read_text())["schema"].startswith("policydiff.analysis")
    return str(out)


def flag_cases(tmp: Path) -> dict[str, list[tuple[list[str], str]]]:
    """Bad values of the commands' own flags: the argv and the flag the diagnostic names."""
    base = with_dsn(tmp)
    return {
        "replay": [(base["replay"] + ["--requests", "-5", "--dsn", NOWHERE], "--requests"),
                   (base["replay"] + ["--shard", "3/2", "--dsn", NOWHERE], "--shard"),
                   (base["replay"] + ["--parallel", "0", "--dsn", NOWHERE], "--parallel"),
                   (base["replay"] + ["--churn", "-1", "--dsn", NOWHERE], "--churn")],
        "gate": [(["gate", "--latency-budget-ms", "soon", "--dsn", NOWHERE], "--latency-budget-ms")],
        "analyze": [(["analyze", "--input", _replay_file(), "--output", str(tmp / "o"),
                      "--format", "pdf"], "--format")],
        "status": [(["status", "--format", "xml", "--dsn", NOWHERE], "--format")],
    }


MALFORMED = ["{user}:{pw}@127.0.0.1", "postgresql://{user}:{pw}@127.0.0.1:port/db",
             "host=127.0.0.1 password='{pw}' port=x", "postgresql://{user}:%zz{pw}@127.0.0.1/db",
             "postgresql://{user}:{pw}@127.0.0.1:99999/db"]


def uncovered(root: argparse.ArgumentParser, tmp: Path) -> set[str]:
    """The commands of `root` that get no hostile input here: each must read some file
    kind in `commands`, and each that takes `--dsn` must be in `with_dsn`."""
    f = tmp / "x.rego"
    covered = {" ".join(argv[:2]) if argv[0] == "db" else argv[0]
               for kind in ("policy", "input", "data", "tenancy", "classifications", "replay", "report")
               for argv in commands(f, kind)}
    dsn = with_dsn(tmp)
    leaves = leaf_commands(root)
    takes_dsn = {name for name, p in leaves.items() if "--dsn" in _options(p)}
    return (set(leaves) - covered - set(dsn)) | (takes_dsn ^ set(dsn))


def test_every_command_gets_the_hostile_inputs_that_apply(tmp_path):
    assert uncovered(build_parser(), tmp_path) == set()
    # and a command registered without coverage is caught
    parser = build_parser()
    group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    group.add_parser("frobnicate").add_argument("--dsn")
    assert uncovered(parser, tmp_path) == {"frobnicate"}


@pytest.mark.parametrize("shape", MALFORMED)
def test_every_command_refuses_a_malformed_dsn_before_connecting(capsys, tmp_path, shape):
    pw = "S3cret%Pw"
    for name, argv in with_dsn(tmp_path).items():
        if name in IGNORES_DSN:
            continue
        dsn = shape.format(user="app", pw=pw)
        code, out, err = run(capsys, *argv, "--dsn", dsn)
        assert code == 2, (name, code, err)
        assert re.search(r"^--dsn: invalid_dsn: ", err, re.MULTILINE), (name, err)
        assert "Traceback" not in err
        assert pw not in out + err and pw.replace("%", "%25") not in out + err, (name, err)


def test_every_database_command_refuses_a_data_dir_that_is_a_file(capsys, tmp_path):
    f = tmp_path / "pgdata"
    f.write_text("not a directory\n")
    for name, parser in leaf_commands().items():
        if "--data-dir" in _options(parser):
            argv = with_dsn(tmp_path)[name] + ["--data-dir", str(f)]
            refused(capsys, argv, f, "unreadable_file", position=False)


def test_bad_flag_values_name_the_flag(capsys, tmp_path):
    for name, cases in flag_cases(tmp_path).items():
        for argv, flag in cases:
            code, _, err = run(capsys, *argv)
            assert code == 2, (name, argv, code, err)
            assert flag in err and "Traceback" not in err, (name, argv, err)


# ---------------------------------------------------------- files read after connecting


@pytest.fixture(scope="module")
def seeded(default_server, tmp_path_factory):
    """A database of this module's tenancy: `replay` reads its profile against it."""
    name = default_server.create_database()
    dsn = default_server.dsn_for(name)
    ten = tmp_path_factory.mktemp("seeded") / "t.json"
    ten.write_text(json.dumps(TENANCY))
    assert main(["db", "seed", "--dsn", dsn, "--tenancy", str(ten)]) == 0
    yield dsn
    default_server.drop_database(name)


PROFILES = {"latin1": ("actions:\n  project:read: 1\n# Jos\xe9\n".encode("latin-1"), "not_utf8", 3),
            "alias-bomb": (_bomb(), "yaml_alias_bomb", None),
            "deep": ("[" * 5000 + "]" * 5000, "yaml_too_deep", None),
            "recursive": ("a: &x [*x]\n", "syntax_error", None),
            "empty": ("", "invalid_profile", None)}


@pytest.mark.parametrize("case", [*PROFILES, "directory"])
def test_replay_refuses_a_hostile_profile(capsys, tmp_path, seeded, case):
    f = tmp_path / "profile.yaml"
    if case == "directory":
        f.mkdir()
        code_name, line, position = "unreadable_file", None, False
    else:
        text, code_name, line = PROFILES[case]
        f.write_bytes(text if isinstance(text, bytes) else text.encode())
        position = code_name.startswith("yaml") or line is not None
    argv = ["replay", "--v1", V1, "--v2", V2, "--requests", "10", "--output",
            str(tmp_path / "out.json"), "--dsn", seeded, "--profile", str(f)]
    started = time.monotonic()
    refused(capsys, argv, f, code_name, position=position, line=line)
    assert time.monotonic() - started < 30
