"""Diagnostic codes are named constants (`policydiff.errors.Code`), each one used by the
package and documented in docs/design.md ("Diagnostic codes"), and no module spells a
code as a string literal where a code stands."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from policydiff.errors import Code

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "policydiff"
MODULES = sorted(PACKAGE.rglob("*.py"))


def declared() -> dict[str, str]:
    return {name: value for name, value in vars(Code).items() if name.isupper()}


def documented() -> list[str]:
    text = (ROOT / "docs" / "design.md").read_text()
    section = re.search(r"^## Diagnostic codes\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "docs/design.md has no `## Diagnostic codes` section"
    return re.findall(r"^\|\s*`([a-z0-9_]+)`", section[1], re.MULTILINE)


def code_refs(tree: ast.AST) -> set[str]:
    """The names `X` of every `Code.X` in a module."""
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "Code"}


def _strings(node: ast.AST) -> list[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return [c for e in node.elts for c in _strings(e)]
    return []


def literal_codes(tree: ast.AST, values: set[str]) -> list[tuple[int, str]]:
    """String literals standing where a diagnostic code stands: the first argument of
    `X.at(...)`, a `code=` argument, a comparison with `.code`, an assignment to `code`,
    or any call's first argument that spells a declared code."""
    found: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant | ast.IfExp) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "at":
                found += _strings(first)
            elif first is not None:
                found += [c for c in _strings(first) if c.value in values]
            found += [c for kw in node.keywords if kw.arg == "code" for c in _strings(kw.value)]
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any((isinstance(s, ast.Attribute) and s.attr == "code")
                   or (isinstance(s, ast.Name) and s.id == "code") for s in sides):
                found += [c for s in sides for c in _strings(s)]
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "code" for t in node.targets):
            found += _strings(node.value)
    return [(c.lineno, c.value) for c in found]


def test_constants_are_snake_case_and_named_after_their_value():
    for name, value in declared().items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", value), name
        assert name == value.upper(), f"Code.{name} = {value!r}"


def test_every_code_used_is_declared_and_every_declared_code_is_used():
    names = declared()
    used: set[str] = set()
    for path in MODULES:
        refs = code_refs(ast.parse(path.read_text()))
        unknown = refs - set(names)
        assert not unknown, f"{path.relative_to(ROOT)} uses undeclared codes {sorted(unknown)}"
        used |= refs
    assert set(names) - used == set(), "declared but never used"


def test_no_module_spells_a_code_as_a_literal():
    values = set(declared().values())
    offenders = [f"{path.relative_to(ROOT)}:{line}: {value!r}"
                 for path in MODULES for line, value in literal_codes(ast.parse(path.read_text()), values)]
    assert offenders == [], "spell codes as `policydiff.errors.Code` constants"


def test_every_code_is_documented_once_and_nothing_else_is():
    rows = documented()
    assert len(rows) == len(set(rows)), "a code has two rows"
    assert set(rows) == set(declared().values())


@pytest.mark.parametrize("source,expected", [
    ('raise InputError.at("bad_flag", "m")', [(1, "bad_flag")]),
    ('Diagnostic(code="odd_one", message="m")', [(1, "odd_one")]),
    ('ok = e.code == "unsupported"', [(1, "unsupported")]),
    ('where.at(("roles",))', []),
    ('raise InputError.at(Code.BAD_FLAG, "m")', []),
])
def test_the_literal_finder_sees_what_it_should(source, expected):
    assert literal_codes(ast.parse(source), {"unsupported"}) == expected
