"""Policies as people keep them: directories with data documents, several files per side,
a data document for one side only, and `check` over good and bad files together."""

from __future__ import annotations

import json

from policydiff.cli import main
from tests.engines import OpaEngine

REGO = "package app\n\nallow if input.subject.role in data.roles.admins\n"
REQUEST = {"subject": {"role": "admin"}}


def tree(root, admins):
    (root / "roles").mkdir(parents=True)
    (root / "app.rego").write_text(REGO)
    (root / "roles" / "data.json").write_text(json.dumps({"admins": admins}))
    (root / ".git").mkdir()
    (root / ".git" / "junk.rego").write_text("not rego")  # hidden: skipped
    return root


def test_a_directory_mounts_its_data_where_opa_does(tmp_path, capsys):
    root = tree(tmp_path / "p", ["admin"])
    (tmp_path / "in.json").write_text(json.dumps(REQUEST))
    assert main(["eval", str(root), "--input", str(tmp_path / "in.json")]) == 0
    ours = json.loads(capsys.readouterr().out)["result"]
    opa = OpaEngine({"app.rego": REGO}, data={"roles": {"admins": ["admin"]}})
    try:
        assert ours == opa.evaluate("data.app.allow", REQUEST) is True
    finally:
        opa.close()


def test_compare_directories_and_sides_of_several_paths(tmp_path, capsys):
    v1 = tree(tmp_path / "v1", ["admin"])
    v2 = tree(tmp_path / "v2", ["admin", "viewer"])  # same Rego, new data: viewers gain access
    args = ["--format", "json"]
    assert main(["compare", str(v1), str(v2), *args]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["v2_more_permissive"] >= 1
    # a directory given on its own mounts its documents at the root of `data`, as `opa -d`
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "roles.json").write_text(json.dumps({"roles": {"admins": ["admin", "viewer"]}}))
    assert main(["compare", "--v1", str(v1), "--v2", str(v1 / "app.rego"), str(tmp_path / "more"),
                 *args]) == 1
    capsys.readouterr()
    # the same change as "same Rego, new data document"
    (tmp_path / "new.json").write_text(json.dumps({"roles": {"admins": ["admin", "viewer"]}}))
    (tmp_path / "old.json").write_text(json.dumps({"roles": {"admins": ["admin"]}}))
    rego = tmp_path / "app.rego"
    rego.write_text(REGO)
    assert main(["compare", "--v1", str(rego), "--v1-data", str(tmp_path / "old.json"),
                 "--v2", str(rego), "--v2-data", str(tmp_path / "new.json"), *args]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["v2_more_permissive"] >= 1


def test_check_reports_every_file(tmp_path, capsys):
    good, other = tmp_path / "a.rego", tmp_path / "b.rego"
    good.write_text(REGO)
    other.write_text("package b\n\nallow if true\n")
    readme = tmp_path / "README.md"
    readme.write_text("# policies\n")
    assert main(["check", str(good), str(readme), str(other)]) == 2
    out, err = capsys.readouterr()
    assert f"{good}: ok" in out and f"{other}: ok" in out and str(readme) not in out
    assert f"{readme}:1:" in err and "Traceback" not in err
