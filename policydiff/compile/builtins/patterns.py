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


# RE2 (OPA) and Python's `re` agree on plain patterns. Refused: what RE2 lacks and Python
# has (backreferences, lookaround, atomic groups), what they spell differently (POSIX
# classes, \Q…\E, \p{…}, \z/\Z, named groups without P, \x{…}), and what `re`
# accepts with another meaning or rejects while RE2 accepts (mid-pattern flags, `(?U)`,
# `{,n}`, possessive quantifiers, `\u` escapes).
_RE2_UNSAFE = re.compile(
    r"\\[1-9]|\(\?[=!<>]|\(\?P=|\[\[:|\\[QEpPCzZGX]|\\x\{"
    r"|\(\?[a-zA-Z]*[UxLau]"     # RE2's ungreedy flag; re's verbose/locale/ascii/unicode flags
    r"|\(\?#"                   # re's comments
    r"|\{,"                     # re reads `{,n}` as a count, RE2 as text
    r"|[*+?}]\+"                # re's possessive quantifiers
    r"|\\[uUNa0]"               # escapes only one of them knows
    r"|\(\?<[^=!]"              # named groups spelled without P (RE2 since Go 1.22)
    r"|.\(\?[imsU-]+\)"         # flags in mid-pattern
)
_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_IGNORE_CASE = re.compile(r"\(\?[a-zA-Z]*i")
_REGEX_CACHE: dict[str, re.Pattern] = {}


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be evaluated as OPA would, or None."""
    if _RE2_UNSAFE.search(pattern):
        return f"pattern `{pattern}` uses a construct RE2 and Python read differently"
    return None


def compile_regex(pattern: str, name: str) -> re.Pattern:
    """`pattern` compiled as RE2 reads it; `Unsupported` where `re` would not agree,
    `BuiltinError` where RE2 rejects it."""
    rx = _REGEX_CACHE.get(pattern)
    if rx is not None:
        return rx
    problem = regex_problem(pattern)
    if problem is not None:
        raise Unsupported(f"{name}: {problem}")
    if any(int(n) > 1000 or (m and int(m) > 1000) for n, m in _COUNT.findall(pattern)):
        raise BuiltinError(f"{name}: error parsing regexp: invalid repeat count")
    try:
        rx = re.compile(pattern, re.ASCII)  # RE2's \d \w \s \b are ASCII-only
    except re.error as e:
        raise BuiltinError(f"{name}: error parsing regexp: {e}") from None
    if len(_REGEX_CACHE) > 256:
        _REGEX_CACHE.clear()
    _REGEX_CACHE[pattern] = rx
    return rx


def check_subject(pattern: str, value: str, name: str) -> None:
    """Refuse the values `re` would match differently from RE2 against `pattern`."""
    if "$" in pattern and "\n" in value:  # `re`'s `$` also matches before a final newline
        raise Unsupported(f"{name}: `$` against a value with a newline")
    if "\v" in value and ("\\s" in pattern or "\\S" in pattern):  # `re`'s \s has \v, RE2's not
        raise Unsupported(f"{name}: `\\s` against a value with a vertical tab")
    if _IGNORE_CASE.search(pattern) and not (value.isascii() and pattern.isascii()):
        raise Unsupported(f"{name}: case-insensitive matching of non-ASCII text")


# pattern -> (compiled, has `$`, has `\s`/`\S`, ignores case, is ASCII)
_MATCHERS: dict[str, tuple] = {}


def regex_match(pattern, value):
    pattern, value = string(pattern, "regex.match", 1), string(value, "regex.match", 2)
    m = _MATCHERS.get(pattern)
    if m is None:
        if len(_MATCHERS) > 256:
            _MATCHERS.clear()
        m = _MATCHERS[pattern] = (compile_regex(pattern, "regex.match"), "$" in pattern,
                                  "\\s" in pattern or "\\S" in pattern,
                                  _IGNORE_CASE.search(pattern) is not None, pattern.isascii())
    rx, dollar, space, icase, ascii_ = m
    if (dollar and "\n" in value) or (space and "\v" in value) or (icase and not (ascii_ and value.isascii())):
        check_subject(pattern, value, "regex.match")  # (which raises: `re` reads these otherwise)
    return rx.search(value) is not None
