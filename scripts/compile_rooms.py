"""Rewrite imports of `policydiff.compile`'s old flat modules to the rooms they moved to.

    python scripts/compile_rooms.py [--check] [PATH ...]

`compile/` was 40 flat modules; its values, builtins and speedups now live in the
packages `compile/values/`, `compile/builtins/` and `compile/speedups/`, and
`compile/rules.py` is two modules, `compile/rule.py` (the runtime: `Ctx`, `Definition`,
`CompiledRule`) and `compile/program.py` (`Program`). This script rewrites, in every
`.py` file under `policydiff/`, `tests/`, `benches/` and `scripts/` (or the PATHs
given):

- `from policydiff.compile.X import …` and relative imports that resolve to it,
- `from policydiff.compile import X, …` where X is a moved module,
- `import policydiff.compile.X`, and dotted `policydiff.compile.X` or `compile/X.py`
  anywhere else in the text (strings, comments),
- `from policydiff.compile.rules import …`, name by name to `rule` or `program`,
- the private names other modules used and that are now public (`RENAMED`).

It is idempotent: a new path never starts with an old module's name, so code that
already uses the new paths is left as it is. What it cannot rewrite safely (a module
import of `rules`, a private name of it) is printed as `file:line: port by hand`.
With `--check` it rewrites nothing and exits 1 when something would change.

After merging a branch that still uses the old paths: resolve a conflict that is only
import lines by keeping either side's (or take the other branch's whole file where this
branch changed nothing but its imports), run this script, then `ruff check --fix .`
and `lint-imports`. Edits another branch made to `compile/rules.py` land in
`program.py`; those to `Ctx`, `Definition`, `CompiledRule`, `_run` or `_first_defined`
belong in `rule.py` and are ported by hand.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "policydiff.compile"

# old module below policydiff.compile -> its new path below policydiff.compile
MOVED = {
    **{m: f"values.{m}" for m in ("access", "bigfloat", "build")},
    **{m: f"builtins.{m}" for m in (
        "arithmetic", "casts", "documents", "encoding", "formatting", "gofmt", "graphs",
        "jsondocs", "jwtokens", "netcidr", "opa_builtins", "operands", "patterns", "regexes",
        "semver", "strtools", "timefmt", "timeparse", "units", "uuids", "yamldocs")},
    **{m: f"speedups.{m}" for m in ("dispatch", "inline", "memo", "prefixes")},
}
# `rules` was split: each public name goes where it now lives
SPLIT = {"rules": {"Ctx": "rule", "Definition": "rule", "CompiledRule": "rule", "Program": "program"}}
# private names other modules used, made public: (defining module, old, new)
RENAMED = (
    ("builtins/timefmt", "_MONTHS", "MONTHS"), ("builtins/timefmt", "_DAYS", "DAYS"),
    ("builtins/timefmt", "_EPOCH", "EPOCH"), ("builtins/timefmt", "_NS", "NS"),
    ("builtins/timefmt", "_MIN_NS", "MIN_NS"), ("builtins/timefmt", "_MAX_NS", "MAX_NS"),
    ("builtins/encoding", "_text", "utf8_text"), ("builtins/encoding", "_b64decode", "decode_base64"),
    ("resolve", "_Names", "Names"),
)
DIRS = ("policydiff", "tests", "benches", "scripts")

_OLD = "|".join(sorted(MOVED, key=len, reverse=True))
_DOTTED = re.compile(rf"(?<![\w.]){re.escape(PACKAGE)}\.({_OLD})\b")
_PATH = re.compile(rf"(?<![\w/])((?:policydiff/)?compile/)({_OLD})\.py\b")


def _package_of(path: Path) -> list[str]:
    """The dotted package a file's relative imports start from."""
    try:
        rel = path.resolve().relative_to(ROOT)
    except ValueError:
        rel = path
    parts = list(rel.parts[:-1])
    return parts


def _absolute(node: ast.ImportFrom, path: Path) -> str | None:
    if node.level == 0:
        return node.module
    base = _package_of(path)
    if node.level - 1 > len(base):
        return None
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _alias(a: ast.alias) -> str:
    return a.name if a.asname is None else f"{a.name} as {a.asname}"


def _statement(indent: str, module: str, names: list[str]) -> str:
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= 100:
        return line
    inner = "".join(f"{indent}    {n},\n" for n in names)
    return f"{indent}from {module} import (\n{inner}{indent})"


def _rewrite_from(node: ast.ImportFrom, path: Path, indent: str, warn) -> str | None:
    """The statement(s) replacing `node`, or None when it stays."""
    full = _absolute(node, path)
    if full is None or not (full == PACKAGE or full.startswith(PACKAGE + ".")):
        return None
    rest = full[len(PACKAGE) + 1:]
    groups: dict[str, list[str]] = {}
    if full == PACKAGE:
        changed = False
        for a in node.names:
            if a.name in MOVED:
                parent = MOVED[a.name].rpartition(".")[0]
                groups.setdefault(f"{PACKAGE}.{parent}", []).append(_alias(a))
                changed = True
            else:
                if a.name in SPLIT:
                    warn(node.lineno, f"`{a.name}` is now `rule` and `program`")
                groups.setdefault(PACKAGE, []).append(_alias(a))
        if not changed:
            return None
    elif rest in MOVED:
        groups[f"{PACKAGE}.{MOVED[rest]}"] = [_alias(a) for a in node.names]
    elif rest in SPLIT:
        for a in node.names:
            target = SPLIT[rest].get(a.name)
            if target is None:
                warn(node.lineno, f"`{a.name}` of `{rest}` has no public new home")
                target = "rule"
            groups.setdefault(f"{PACKAGE}.{target}", []).append(_alias(a))
    elif node.level == 0:
        return None
    else:  # a relative import of an unmoved module: made absolute only if it needs no change
        return None
    return "\n".join(_statement(indent, m, names) for m, names in groups.items())


def _rewrite_import(node: ast.Import, indent: str) -> str | None:
    changed = False
    names = []
    for a in node.names:
        new = _DOTTED.sub(lambda m: f"{PACKAGE}.{MOVED[m.group(1)]}", a.name)
        changed |= new != a.name
        names.append(new if a.asname is None else f"{new} as {a.asname}")
    return f"{indent}import {', '.join(names)}" if changed else None


def rewrite(text: str, path: Path, warn) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        warn(e.lineno or 0, f"not parsed ({e.msg}): imports left as they are")
        tree = None
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        first = lines[node.lineno - 1]
        indent = first[:node.col_offset]
        if indent.strip():  # `x = 1; from … import …`: not a statement of its own line
            continue
        if isinstance(node, ast.ImportFrom):
            new = _rewrite_from(node, path, indent, lambda n, why: warn(n, why))
        else:
            new = _rewrite_import(node, indent)
        if new is None:
            continue
        last = lines[node.end_lineno - 1]
        tail = last[node.end_col_offset:]  # a trailing comment, the newline
        edits.append((node.lineno - 1, node.end_lineno, new + tail))
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = [new]
    out = "".join(lines)
    for module, old, new in RENAMED:
        leaf = module.rpartition("/")[2]
        if path.as_posix().endswith(f"compile/{module}.py"):
            out = re.sub(rf"(?<![\w.]){old}\b", new, out)
        out = re.sub(rf"\b{leaf}\.{old}\b", f"{leaf}.{new}", out)
    out = _DOTTED.sub(lambda m: f"{PACKAGE}.{MOVED[m.group(1)]}", out)
    out = _PATH.sub(lambda m: f"{m.group(1)}{MOVED[m.group(2)].replace('.', '/')}.py", out)
    for i, line in enumerate(out.splitlines(), 1):
        if re.search(rf"{re.escape(PACKAGE)}\.rules\b|compile\.rules\._|\brules\._MISS\b", line):
            warn(i, "names `compile.rules` (now `rule` and `program`)")
    return out


def files(paths: list[str]) -> list[Path]:
    roots = [Path(p) for p in paths] or [ROOT / d for d in DIRS]
    out = []
    for r in roots:
        if r.is_file():
            out.append(r)
        elif r.is_dir():
            out.extend(p for p in sorted(r.rglob("*.py")) if ".venv" not in p.parts)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if something would change")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    changed: list[Path] = []
    for path in files(args.paths):
        if path.resolve() == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")

        def warn(line: int, why: str, path=path) -> None:
            print(f"{path}:{line}: port by hand: {why}", file=sys.stderr)

        new = rewrite(text, path, warn)
        if new != text:
            changed.append(path)
            if args.check:
                print(f"{path}: would change")
            else:
                path.write_text(new, encoding="utf-8")
                print(f"{path}: rewritten")
    if changed and not args.check:  # the rewritten import blocks, sorted as the lint wants
        subprocess.run([sys.executable, "-m", "ruff", "check", "--quiet", "--fix", "--select", "I",
                        *map(str, changed)], check=False)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
