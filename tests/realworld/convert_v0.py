"""Convert a Rego v0 module to Rego v1, mechanically, the way `opa fmt --v1-compatible`
would for the constructs the corpus uses.

    python tests/realworld/convert_v0.py               # every v0/*.rego -> its v1 twin
    python tests/realworld/convert_v0.py IN.rego OUT.rego

The v0 files as fetched stay in `<source>/v0/`; the converted ones sit beside them in
`<source>/`, under the same name, and are what the tests compare. The rewrite is line
based and only touches rule heads at brace depth 0:

- `import rego.v1` after the `package` line, in place of `import future.keywords...`
  lines (rego.v1 implies them), whose keywords the v0 code may then use;
- `if` before every rule body (`allow {` -> `allow if {`, `} else = x {` ->
  `} else = x if {`);
- `contains` for partial sets (`deny[msg] {` -> `deny contains msg if {`); a head
  `name[k] = v {` stays an object rule.

Anything else (a v0 keyword used as a name, a one-line body after the head) raises, so
a file the script does not understand is never half-converted.
`tests/test_realworld.py` checks that every converted module loads in real OPA 1.x and
decides as the v0 original does under rego-cpp, which still reads v0, over the pair's
whole input space.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_NAME = r"[A-Za-z_][\w.]*"
_SET_HEAD = re.compile(rf"^({_NAME})\[([^\]=]+)\]$")
_KEYWORDS = re.compile(r"(?<![\w.\"])(if|contains|in|every)(?![\w\"])")


def _depth_change(line: str) -> int:
    """Net `{` minus `}` outside strings and comments."""
    depth, in_str, esc = 0, False, False
    for ch in line:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "#":
            break
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
    return depth


def _head(head: str, lineno: int) -> str:
    """A v0 rule head (the text before its body's `{`) in v1 form, without `if`."""
    head = head.rstrip()
    if head.endswith(("=", ",", "(", "|")):
        raise ValueError(f"line {lineno}: `{head}` opens a value, not a body")
    m = _SET_HEAD.match(head)
    if m:
        return f"{m.group(1)} contains {m.group(2).strip()}"
    return head


def convert(text: str) -> str:
    out: list[str] = []
    depth = 0
    # `in` and `every` imported from future.keywords may be used; rego.v1 implies them
    future = set(re.findall(r"^import future\.keywords\.(in|every)\s*$", text, re.MULTILINE))
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        if line is None:
            continue
        stripped = line.strip()
        if stripped.startswith("import future.keywords"):
            if stripped.split()[1].rsplit(".", 1)[-1] not in future:
                raise ValueError(f"line {lineno}: `{stripped}` is not handled")
            nxt = lineno  # the index of the next line
            if nxt < len(lines) and not lines[nxt].strip() and out and not out[-1].strip():
                lines[nxt] = None  # and the blank line after it, rego.v1 standing above
            continue
        code = stripped.split("#", 1)[0] if not stripped.startswith("#") else ""
        used = set(_KEYWORDS.findall(re.sub(r'"[^"]*"', '""', code))) if code else set()
        if used - future:
            raise ValueError(f"line {lineno}: a v1 keyword in v0 code: `{stripped}`")
        # `} else = x {` closes the body before it: a head at depth 0
        head_depth = depth - 1 if code.startswith("}") else depth
        if head_depth == 0 and code.endswith("{") and not code.startswith(("package", "import")):
            body = code[:-1].rstrip()
            if body.startswith("}"):  # `} else = x {`
                prefix, rest = "} ", body[1:].strip()
                if not rest.startswith("else"):
                    raise ValueError(f"line {lineno}: unexpected `{stripped}`")
            else:
                prefix, rest = "", body
            # a value literal opens a multi-line term, not a body
            if not re.search(r"(:?=|,|\(|\|)$", rest):
                indent = line[: len(line) - len(line.lstrip())]
                line = f"{indent}{prefix}{_head(rest, lineno) if prefix == '' else rest} if {{"
        elif depth == 0 and re.match(rf"^{_NAME}.*\{{.*\}}\s*$", code) and not re.match(rf"^{_NAME}(\[[^\]]*\])?\s*:?=", code):
            raise ValueError(f"line {lineno}: a one-line rule body is not handled: `{stripped}`")
        depth += _depth_change(line)
        out.append(line)
        if code.startswith("package "):
            out.append("")
            out.append("import rego.v1")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if argv:
        src, dst = map(Path, argv)
        dst.write_text(convert(src.read_text()))
        return 0
    for src in sorted(HERE.glob("*/v0/*.rego")):
        dst = src.parent.parent / src.name
        dst.write_text(convert(src.read_text()))
        print(f"{src.relative_to(HERE)} -> {dst.relative_to(HERE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
