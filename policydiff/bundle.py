"""Policies as people keep them: files and directories to what `load_policy` reads.

A directory stands for every `.rego` file under it and every data document (`.json`,
`.yaml`, `.yml`) under it, each mounted at its directory's path below the one given, as
`opa eval -d DIR` loads a tree (a document `DIR/roles/data.json` is `data.roles`);
hidden directories (`.git`) are skipped. A file stands for itself: `.rego`, a role table
(`.yaml`, `.yml`, `.toml`) or a `.json` data document. Directories are read in sorted
order, so diagnostics and provenance come out the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from policydiff.documents import load_yaml, read_text
from policydiff.errors import Code, InputError
from policydiff.policy import read_json
from policydiff.source import Span

_DATA = (".json", ".yaml", ".yml")


def expand(paths: Sequence[str | Path]) -> list[str | dict]:
    """Each path, with directories replaced by the policy files and data they hold."""
    items: list[str | dict] = []
    dirs = []
    for path in paths:
        p = Path(path)
        if not p.is_dir():
            items.append(str(path))
            continue
        dirs.append(str(path))
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(p)
            if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                continue
            if f.suffix == ".rego":
                items.append(str(f))
            elif f.suffix in _DATA:
                items.append(_mounted(f, rel.parent.parts))
    if dirs and not any(isinstance(item, str) for item in items):
        raise InputError.at(Code.NO_POLICY, f"`{dirs[0]}` holds no `.rego` file", Span(file=dirs[0]))
    return items


def _mounted(f: Path, at: tuple[str, ...]) -> dict:
    if f.suffix == ".json":
        doc = read_json(f)
    else:
        doc = load_yaml(read_text(f, "data"), str(f)).data
    if not at and not isinstance(doc, dict):
        raise InputError.at(Code.BAD_DATA, "a data document at the root of `data` must be an object",
                            Span(file=str(f)))
    for key in reversed(at):
        doc = {key: doc}
    return doc
