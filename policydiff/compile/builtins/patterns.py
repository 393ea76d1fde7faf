"""Patterns: OPA's `glob.match` and `regex.match` over Python's `re`.

Globs (gobwas/glob syntax) are translated to regular expressions. Regular expressions
are RE2 in OPA; Python's `re` agrees on plain patterns, and the constructs where the two
read differently are refused (`regex_problem`) instead of evaluated.
"""

from __future__ import annotations

import re

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, coll, string

_GLOB_CACHE: dict[tuple, re.Pattern] = {}


def glob_match(pattern, delimiters, match):
    pattern, match = string(pattern, "glob.match", 1), string(match, "glob.match", 3)
    if delimiters is None:
        delims: tuple = ()  # null: `*` crosses everything
    else:
        delims = tuple(string(d, "glob.match", 2) for d in coll(delimiters, "glob.match", 2, (tuple,))) or (".",)
    key = (pattern, delims)
    rx = _GLOB_CACHE.get(key)
    if rx is None:
        rx = _GLOB_CACHE[key] = glob_regex(pattern, delims)
    return rx.fullmatch(match) is not None


def glob_regex(pattern: str, delims: tuple[str, ...]) -> re.Pattern:
    """OPA's glob syntax (gobwas/glob) as a Python regex: `*` any run of non-delimiter
    characters, `**` any run, `?` one non-delimiter, `[a-z]` / `[!a-z]` classes,
    `{a,b}` alternatives (not nested), `\\x` a literal `x`."""
    if len(delims) == 1 and len(delims[0]) == 1:
        other = "[^" + re.escape(delims[0]) + "]"
    elif delims:
        other = "(?:(?!" + "|".join(re.escape(d) for d in delims) + ").)"
    else:
        other = "."
    out: list[str] = []
    i, n = 0, len(pattern)
    depth = 0
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append(other + "*")
            i += 1
        elif c == "?":
            out.append(other)
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                raise Unsupported(f"glob.match: unterminated class in `{pattern}`")
            body = pattern[i + 1:end]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            parts = []
            j = 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    parts.append(re.escape(body[j]) + "-" + re.escape(body[j + 2]))
                    j += 3
                else:
                    parts.append(re.escape(body[j]))
                    j += 1
            out.append("[" + ("^" if neg else "") + "".join(parts) + "]")
            i = end + 1
        elif c == "{":
            if depth:
                raise Unsupported(f"glob.match: nested alternatives in `{pattern}`")
            depth += 1
            out.append("(?:")
            i += 1
        elif c == "," and depth:
            out.append("|")
            i += 1
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    if depth:
        raise Unsupported(f"glob.match: unterminated alternatives in `{pattern}`")
    return re.compile("".join(out), re.DOTALL)


_REGEX_CACHE: dict[str, re.Pattern] = {}
# RE2 (OPA) and Python's `re` agree on plain patterns. Refused: what RE2 lacks and Python
# has (backreferences, lookaround, atomic groups), what they spell differently (POSIX
# classes, \\Q…\\E, \\p{…}, \\z/\\Z, named groups without P, \\x{…}).
_RE2_UNSAFE = re.compile(r"\\[1-9]|\(\?[=!<>]|\(\?P=|\[\[:|\\[QEpPCzZGX]|\\x\{")


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be evaluated as OPA would, or None."""
    if _RE2_UNSAFE.search(pattern):
        return f"pattern `{pattern}` uses a construct RE2 and Python read differently"
    return None


def regex_match(pattern, value):
    pattern, value = string(pattern, "regex.match", 1), string(value, "regex.match", 2)
    rx = _REGEX_CACHE.get(pattern)
    if rx is None:
        problem = regex_problem(pattern)
        if problem:
            raise Unsupported(f"regex.match: {problem}")
        try:
            # ASCII: RE2's \\d \\w \\s are ASCII-only
            rx = _REGEX_CACHE[pattern] = re.compile(pattern, re.ASCII)
        except re.error as e:
            raise BuiltinError(f"regex.match: {e}") from None
    if "$" in pattern and "\n" in value:  # Python's `$` also matches before a final newline
        raise Unsupported("regex.match: `$` against a value with a newline")
    return rx.search(value) is not None
