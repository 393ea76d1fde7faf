"""Reading the files people hand policydiff: bytes to text, and YAML to data with positions.

Every reader of a policy, input, data, tenancy, classification or role table file goes
through here, so that the hostile cases are refused the same way everywhere:

- `read_bytes`: at most `MAX_FILE_BYTES` of a file (`file_too_large` past it), FIFOs and
  pipes read once like files; a directory or a missing file is named as such.
- `read_text`: UTF-8, with a leading byte order mark dropped (OPA accepts one); bytes
  that are not UTF-8 are refused naming the line, column and byte offset of the first
  bad byte.
- `load_yaml`: one safe loader (libyaml when built with it) that never constructs
  arbitrary objects, refuses nesting deeper than `MAX_YAML_DEPTH` before composing (the
  C composer recurses on the C stack), refuses alias expansions past `MAX_YAML_NODES`
  and recursive aliases before constructing (a "billion laughs" file is refused in
  milliseconds), and leaves dates as strings, as OPA's YAML reading does (so a bad date
  is the caller's diagnostic, not a constructor's `ValueError`). It returns the data
  together with the span of every key and value by path, and the duplicate keys found.
- `did_you_mean`, the hint every reader gives for a misspelt name.

Every failure is a `PolicydiffError` subclass chosen by the caller, with code
`not_utf8`, `unreadable_file`, `file_too_large` or `syntax_error` (`yaml_too_deep`, `yaml_alias_bomb`).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import yaml

from policydiff.errors import Code, InputError, PolicydiffError, keep_source
from policydiff.source import Span

MAX_FILE_BYTES = 256 << 20  # any one input file: past this a file is refused, not read
MAX_YAML_DEPTH = 512  # nesting of mappings and sequences in one YAML document
MAX_YAML_NODES = 2_000_000  # nodes of a YAML document once its aliases are expanded
BOM = "\ufeff"

Loc = tuple[str | int, ...]  # a position in a decoded document: keys and indices


# ----------------------------------------------------------------------------- text


def decode_text(raw: bytes, name: str, error: type[PolicydiffError] = InputError) -> str:
    """`raw` as UTF-8 text without a leading BOM; not UTF-8 is `error` at the first bad byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        before = raw[: e.start]
        line = before.count(b"\n") + 1
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise error.at(Code.NOT_UTF8, f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} "
                       "cannot be decoded", Span(file=name, line=line, col=col, end_line=line,
                                                 end_col=col + 1),
                       help="save the file as UTF-8") from None
    return text[1:] if text.startswith(BOM) else text


def read_bytes(path: str | Path, what: str, error: type[PolicydiffError] = InputError) -> bytes:
    """The bytes of the file at `path`, at most `MAX_FILE_BYTES` of them; `what` names it
    in messages. A FIFO or a pipe (`<(...)`, `/dev/stdin`) is read once, as a file: a
    caller that needs the text again keeps it rather than opening the path twice."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > MAX_FILE_BYTES:
                raise _too_large(what, name, st.st_size, error)
            raw = f.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise error.at(Code.UNREADABLE_FILE, f"cannot read {what}: `{name}` is a directory",
                       Span(file=name)) from None
    except OSError as e:
        raise error.at(Code.UNREADABLE_FILE, f"cannot read {what}: {e.strerror or e}",
                       Span(file=name)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(what, name, None, error)
    return raw


def _too_large(what: str, name: str, size: int | None, error: type[PolicydiffError]) -> PolicydiffError:
    said = f"{size / (1 << 20):.0f} MiB, " if size is not None else ""
    return error.at(Code.FILE_TOO_LARGE, f"{what} too large: {said}more than the "
                    f"{MAX_FILE_BYTES >> 20} MiB policydiff reads", Span(file=name),
                    help="see README.md, Limits")


def read_text(path: str | Path, what: str, error: type[PolicydiffError] = InputError) -> str:
    """The text of the file at `path` (see `read_bytes` and `decode_text`); a FIFO's or a
    pipe's is kept for the diagnostics that quote it (`errors.keep_source`)."""
    raw = read_bytes(path, what, error)
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # a pipe gone once read
        regular = False
    if not regular:
        keep_source(str(path), raw.decode("utf-8", "replace").removeprefix(BOM))
    return decode_text(raw, str(path), error)


def load_json(text: str, file: str, error: type[PolicydiffError] = InputError, *,
               parse_float=None) -> Any:
    """The JSON document in `text`: bad JSON is `syntax_error` at its line and column,
    `NaN` and `Infinity` (which Python's reader takes) `bad_input` where they stand, and
    nesting past the stack `too_deep`."""
    def constant(token: str):
        raise _NotJson(token)

    try:
        return json.loads(text, parse_float=parse_float, parse_constant=constant)
    except json.JSONDecodeError as e:
        raise error.at(Code.SYNTAX_ERROR, e.msg.lower(), Span(file=file, line=e.lineno, col=e.colno)) from None
    except _NotJson as e:
        at = next(m for m in _JSON_TOKENS.finditer(text) if m["constant"] == e.token).start()
        line = text.count("\n", 0, at) + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1
        raise error.at(Code.BAD_INPUT, f"not a JSON number: `{e.token}`",
                       Span(file=file, line=line, col=col, end_line=line, end_col=col + len(e.token)),
                       help="JSON (and so OPA) has no NaN or infinite numbers") from None
    except RecursionError:
        raise error.at(Code.TOO_DEEP, "JSON nested too deeply", Span(file=file)) from None


class _NotJson(Exception):
    def __init__(self, token: str):
        self.token = token


# strings are skipped whole, so a `NaN` inside one is not taken for the constant
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|(?P<constant>-?Infinity|NaN)')


def did_you_mean(word: object, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


# ----------------------------------------------------------------------------- YAML

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: 30x faster


class _Loader(_BASE):  # type: ignore[misc, valid-type]
    """The safe loader without implicit timestamps: `2026-13-01` stays a string."""

    yaml_implicit_resolvers: ClassVar = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BASE.yaml_implicit_resolvers.items()
    }


class Document:
    """A decoded document (YAML, or TOML by its own reader) and where each of its parts stands.

    `values[path]` is the span of the value at `path`, `keys[path]` the span of the key
    that names it; `duplicates` lists `(path, span, first_span)` for every mapping key
    given twice (the data keeps the last, as YAML loaders do)."""

    def __init__(self, file: str):
        self.file = file
        self.data: Any = None
        self.values: dict[Loc, Span] = {}
        self.keys: dict[Loc, Span] = {}
        self.duplicates: list[tuple[Loc, Span, Span]] = []

    def at(self, path: Loc) -> Span:
        """The span of the value at `path`, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            span = self.values.get(path[:n])
            if span is not None:
                return span
        return Span(file=self.file)

    def key(self, path: Loc) -> Span:
        """The span of the key that names `path`, falling back to its value."""
        return self.keys.get(path) or self.at(path)


def _span(node: yaml.Node | yaml.Mark, file: str) -> Span:
    start = getattr(node, "start_mark", node)
    end = getattr(node, "end_mark", node)
    return Span(file=file, line=start.line + 1, col=start.column + 1,
                end_line=end.line + 1, end_col=end.column + 1)


def _syntax(e: yaml.YAMLError, file: str, error: type[PolicydiffError]) -> PolicydiffError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    span = Span(file=file, line=mark.line + 1, col=mark.column + 1) if mark else Span(file=file)
    said = [getattr(e, "context", None), getattr(e, "problem", None)]
    message = ", ".join(part for part in said if part) or str(e)
    hint = None
    if "alias" in message:  # `*` opens an alias, so an unquoted `[*]` or `*:read` fails
        hint = 'quote values that start with `*`, as in `["*"]`: YAML reads `*name` as an alias'
    return error.at(Code.SYNTAX_ERROR, f"invalid YAML: {message}", span, hint)


def _check_depth(text: str, file: str, error: type[PolicydiffError]) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise error.at(Code.YAML_TOO_DEEP, f"YAML nested more than {MAX_YAML_DEPTH} levels deep",
                               _span(event, file))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(root: yaml.Node, file: str, error: type[PolicydiffError]) -> None:
    """Refuse recursive aliases and documents whose aliases expand past `MAX_YAML_NODES`
    (sizes are counted over the node graph, where an alias is a shared node)."""
    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        children = ([c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if done:
            open_.discard(id(node))
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_YAML_NODES:
                raise error.at(Code.YAML_ALIAS_BOMB, f"YAML aliases expand to more than {MAX_YAML_NODES} "
                               "values", _span(node, file),
                               help="write the document out instead of repeating anchors")
            size[id(node)] = total
            continue
        if id(node) in open_:
            raise error.at(Code.SYNTAX_ERROR, "invalid YAML: an alias refers to a value that "
                           "contains it", _span(node, file))
        open_.add(id(node))
        stack.append((node, True))
        for c in children:
            if id(c) in open_:
                raise error.at(Code.SYNTAX_ERROR, "invalid YAML: an alias refers to a value "
                               "that contains it", _span(c, file))
            stack.append((c, False))


_FLOAT_TAG = "tag:yaml.org,2002:float"
# the tags whose values are JSON's (`<<` merge keys too); `!!binary`, `!!set`,
# `!!timestamp`, `!!omap` and the like build values no JSON document holds
_JSON_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq",
                                                           "map", "merge"))


def _finite(node: yaml.ScalarNode, file: str, error: type[PolicydiffError]) -> None:
    """A YAML float is a JSON number: `.nan`, `.inf` and values past a double's range are
    refused where they stand (JSON has no such numbers, and OPA reads YAML as JSON)."""
    text = node.value.replace("_", "").lower()
    try:
        ok = math.isfinite(float(text.replace(".inf", "inf").replace(".nan", "nan")))
    except ValueError:  # a sexagesimal `1:30.5`: finite by construction
        ok = True
    if not ok:
        raise error.at(Code.BAD_INPUT, f"not a JSON number: `{node.value}`", _span(node, file),
                       help="JSON (and so OPA) has no NaN or infinite numbers")


def _json_tag(node: yaml.Node, file: str, error: type[PolicydiffError]) -> None:
    if node.tag not in _JSON_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise error.at(Code.BAD_INPUT, f"YAML tag `{tag}` has no JSON value", _span(node, file),
                       help="drop the tag: every document policydiff reads is JSON data")


def _walk(root: yaml.Node, doc: Document, error: type[PolicydiffError]) -> None:
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    doc.values[()] = _span(root, doc.file)
    while stack:
        node, path = stack.pop()
        if id(node) in seen:  # an alias: its positions are those of its anchor
            continue
        seen.add(id(node))
        _json_tag(node, doc.file, error)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _FLOAT_TAG:
                _finite(node, doc.file, error)
        elif isinstance(node, yaml.MappingNode):
            first: dict[str, Span] = {}
            for k, v in node.value:
                _json_tag(k, doc.file, error)
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.tag)
                span = _span(k, doc.file)
                if key in first:
                    doc.duplicates.append((path + (key,), span, first[key]))
                    continue
                first[key] = span
                doc.keys[path + (key,)] = span
                doc.values[path + (key,)] = _span(v, doc.file)
                stack.append((v, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                doc.values[path + (i,)] = _span(item, doc.file)
                stack.append((item, path + (i,)))


def load_yaml(text: str, file: str, error: type[PolicydiffError] = InputError) -> Document:
    """The single YAML document in `text`, with positions; see the module docstring."""
    doc = Document(file)
    loader = None
    try:
        _check_depth(text, file, error)
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return doc
        _expanded_size(node, file, error)
        _walk(node, doc, error)
        doc.data = loader.construct_document(node)
    except yaml.YAMLError as e:
        raise _syntax(e, file, error) from None
    except (ValueError, TypeError, OverflowError) as e:  # an explicit tag on a bad value
        raise error.at(Code.SYNTAX_ERROR, f"invalid YAML: {e}", doc.at(())) from None
    finally:
        if loader is not None:
            loader.dispose()
    return doc
