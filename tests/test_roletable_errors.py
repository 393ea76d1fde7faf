"""Role tables that are wrong: every problem is a `PolicyError` whose diagnostic names
the code, the line and the role or key, and underlines the offending text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from policydiff.errors import ExitCode, PolicyError, render
from policydiff.frontend.roletable import decode, load_module, lower
from policydiff.source import Source

HEAD = "version: 1\npackage: t\nroles:\n"


def _errors(text: str, name: str = "t.yaml") -> list[tuple[str, int, str, str, str | None]]:
    """(code, line, underlined text, message, help) of every diagnostic."""
    with pytest.raises(PolicyError) as info:
        decode(Source(name=name, text=text))
    assert info.value.exit_code == ExitCode.BAD_INPUT
    out = []
    for d in info.value.diagnostics:
        assert d.span.file == name
        rendered = render(d, {name: text}).splitlines()
        underlined = ""
        if len(rendered) > 2 and "^" in rendered[2]:
            start = rendered[2].index("^")
            underlined = rendered[1][start:start + rendered[2].count("^")]
        out.append((d.code, d.span.line, underlined, d.message, d.help))
    return out


def test_unknown_key_suggests_the_close_one():
    [(code, line, text, message, help)] = _errors(
        HEAD + "  viewer:\n    grants:\n      - {actions: [a], scoep: team}\n")
    assert (code, line, text) == ("invalid_roletable", 6, "scoep")
    assert "roles.viewer.grants[0]" in message and help == "did you mean `scope`?"


def test_unknown_top_level_key_lists_or_suggests():
    [(_, line, text, _, help)] = _errors("version: 1\npackage: t\nrole:\n  a: {}\n")
    assert (line, text, help) == (3, "role", "did you mean `roles`?")
    [(_, _, text, _, help)] = _errors(HEAD + "  a: {colour: red}\n")
    assert text == "colour" and "`inherits`" in help and "`grants`" in help


def test_unknown_scope():
    [(code, line, text, message, help)] = _errors(
        HEAD + "  viewer:\n    grants:\n      - {actions: [a], scope: entreprise}\n")
    assert (code, line, text) == ("invalid_roletable", 6, "entreprise")
    assert "`viewer`" in message and help == "did you mean `enterprise`?"


@pytest.mark.parametrize("pattern, why", [
    ("'a:[rw]'", "character classes"), ("'{a,b}:read'", "alternatives"),
    ("'a:**'", "`**`"), ("'a b'", "whitespace"), ("''", "empty")])
def test_bad_action_patterns(pattern, why):
    [(code, line, text, message, _)] = _errors(
        HEAD + f"  dev:\n    grants:\n      - {{actions: [ok, {pattern}], scope: team}}\n")
    assert (code, line, text) == ("invalid_roletable", 6, pattern)
    assert why in message and "`dev`" in message


def test_duplicate_role_names_both_lines():
    [(code, line, text, message, help)] = _errors(HEAD + "  viewer: {}\n  admin: {}\n  viewer: {}\n")
    assert (code, line, text) == ("invalid_roletable", 6, "viewer")
    assert message == "duplicate role `viewer`" and "line 4" in help


def test_unknown_inherited_role():
    [(_, line, text, message, help)] = _errors(HEAD + "  viewer: {}\n  dev:\n    inherits: [viwer]\n")
    assert (line, text) == (6, "viwer")
    assert "`dev`" in message and help == "did you mean `viewer`?"


def test_cycles_are_named_at_the_closing_entry():
    errors = _errors(HEAD + "  a:\n    inherits: [b]\n  b:\n    inherits: [c]\n"
                     "  c:\n    inherits: [a]\n  d: {inherits: [d]}\n")
    assert [(line, text) for _, line, text, _, _ in errors] == [(9, "a"), (10, "d")]
    assert "`a` -> `b` -> `c` -> `a`" in errors[0][3]
    assert "`d` -> `d`" in errors[1][3]


def test_problems_are_reported_together_in_order():
    errors = _errors("version: 2\npackage: data.x\nroles:\n  a: {grants: [{actions: [x], scope: al}]}\n")
    assert [(line, text) for _, line, text, _, _ in errors] == [(1, "2"), (2, "data.x"), (4, "al")]


def test_other_project_files_are_named():
    [(_, _, _, _, help)] = _errors('{"enterprises": [], "users": [], "actions": []}\n')
    assert "tenancy file" in help
    [(_, _, _, _, help)] = _errors("version: 1\nblocking: [bug]\nrules: []\n")
    assert "classification file" in help


def test_wrong_types_and_missing_keys():
    [(_, line, text, message, _)] = _errors(HEAD + "  a: {grants: [{actions: [1], scope: team}]}\n")
    assert (line, text) == (4, "1") and "expected `str`, got `int`" in message
    [(_, line, _, message, _)] = _errors(HEAD + "  a: {grants: [{actions: [x]}]}\n")
    assert line == 4 and message == "missing key `scope` in roles.a.grants[0]"
    [(_, _, _, message, _)] = _errors("- a\n")
    assert "mapping" in message


def test_yaml_syntax_error_has_a_position():
    [(code, line, _, _, _)] = _errors(HEAD + "  a: {grants: [\n  b: ]\n")
    assert code == "syntax_error" and line >= 4


@pytest.mark.parametrize("actions", ["[*]", "[a, '*:x', *:read]", "[*read]"])
def test_unquoted_star_is_explained(actions):
    [(code, line, _, _, help)] = _errors(HEAD + f"  a:\n    grants: [{{actions: {actions}, scope: team}}]\n")
    assert code == "syntax_error" and line == 5 and "quote" in help


def test_toml_errors():
    [(code, line, text, _, _)] = _errors(
        'version = 1\npackage = "t"\n[roles.a]\ngrants = [{ actions = ["x"], scope = team }]\n',
        "t.toml")
    assert (code, line, text) == ("syntax_error", 4, "t")
    [(code, line, _, message, help)] = _errors(
        'version = 1\npackage = "t"\n[roles.a]\n\n[[roles.a.grants]]\nactions = ["x"]\nscopes = "team"\n',
        "t.toml")
    assert (code, line) == ("invalid_roletable", 7)
    assert "`scopes`" in message and help == "did you mean `scope`?"
    [(_, line, _, message, help)] = _errors(
        'version = 1\npackage = "t"\n[roles.a]\ninherits = ["b"]\n[roles.bb]\n', "t.toml")
    assert line == 4 and "`b`" in message and help == "did you mean `bb`?"


def test_unreadable_file(tmp_path):
    with pytest.raises(PolicyError) as info:
        load_module(tmp_path / "missing.yaml")
    assert info.value.code == "unreadable_file" and "missing.yaml" in str(info.value.span)


_V1 = (Path(__file__).resolve().parent.parent / "policies" / "rbac_v1.yaml").read_text()
_V1_TOML = (Path(__file__).resolve().parent.parent / "policies" / "rbac_v1.toml").read_text()
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(
        ["team", "*", "a:b", "", "viewer", "inherits", "grants", "actions", "scope", "[x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["version", "package", "roles", "viewer", "grants", "actions", "scope",
                         "inherits", "description", "x"]), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_document_decodes_or_fails_with_a_diagnostic(data):
    """Random edits of a good table, and random documents, never escape as anything
    but a `PolicyError` with a code of the format."""
    kind = data.draw(st.sampled_from(["edit-yaml", "edit-toml", "document"]))
    if kind == "document":
        doc = data.draw(st.fixed_dictionaries({"version": st.just(1), "package": st.just("p")},
                                              optional={"roles": _JSONISH}) | _JSONISH)
        name, text = "t.yaml", yaml.safe_dump(doc)
    else:
        name, text = ("t.yaml", _V1) if kind == "edit-yaml" else ("t.toml", _V1_TOML)
        for _ in range(data.draw(st.integers(1, 3))):
            at = data.draw(st.integers(0, len(text)))
            cut = data.draw(st.integers(0, 4))
            text = text[:at] + data.draw(st.sampled_from(["", ":", "-", " ", "\n", "[", "{", "x", "*"])) + text[at + cut:]
    try:
        module = lower(Source(name=name, text=text))
    except PolicyError as e:
        assert e.code in {"syntax_error", "invalid_roletable", "yaml_too_deep", "yaml_alias_bomb"}
        assert all(d.span.file == name for d in e.diagnostics)
        return
    assert module.origin == "roletable" and module.rules[0].default


def test_a_duplicate_role_hides_no_other_problem():
    found = _errors(HEAD + "  a:\n    grants: [{actions: [x], scope: team}]\n  a:\n"
                    "    grants: [{actions: [y], scope: team}]\n  b:\n    inherits: [a, nobdy]\n"
                    "    grants: [{actions: [x], scope: teem}]\n")
    codes = [(code, message) for code, _, _, message, _ in found]
    assert any("duplicate role `a`" in m for _, m in codes)
    assert any("unknown scope `teem`" in m for _, m in codes)
    assert any("unknown role `nobdy`" in m for _, m in codes)
