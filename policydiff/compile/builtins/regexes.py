"""The `regex.*` builtins beyond `regex.match`, with Go's `regexp` semantics over `re`.

OPA compiles patterns with Go's RE2 package. Patterns and subjects are screened as for
`regex.match` (`patterns.compile_regex`, `patterns.check_subject`): what `re` would read
differently is refused, never evaluated differently. Iteration over matches is Go's,
not `re`'s: an empty match right after a match is skipped (`find_n`, `split`), and
replacement templates are Go's `Expand` (`$1`, `${name}`, `$$`; `$1x` names group `1x`).
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import re
import unicodedata

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, integer, string
from policydiff.compile.builtins.patterns import check_subject, compile_regex


def _matches(rx: re.Pattern, s: str, n: int) -> list[re.Match]:
    """Go's `FindAll…(s, n)`: successive matches, an empty one right after the previous
    match skipped; all of them when `n` is negative."""
    out: list[re.Match] = []
    pos, prev_end = 0, -1
    while (n < 0 or len(out) < n) and pos <= len(s):
        m = rx.search(s, pos)
        if m is None:
            break
        accept = True
        if m.end() == pos:  # an empty match
            accept = m.start() != prev_end
            pos += 1
        else:
            pos = m.end()
        prev_end = m.end()
        if accept:
            out.append(m)
    return out


def find_n(pattern, value, n):
    name = "regex.find_n"
    pattern, value, n = string(pattern, name, 1), string(value, name, 2), integer(n, name, 3)
    rx = compile_regex(pattern, name)
    check_subject(pattern, value, name)
    return tuple(m.group(0) for m in _matches(rx, value, n))


def find_all_string_submatch_n(pattern, value, n):
    name = "regex.find_all_string_submatch_n"
    pattern, value, n = string(pattern, name, 1), string(value, name, 2), integer(n, name, 3)
    rx = compile_regex(pattern, name)
    check_subject(pattern, value, name)
    return tuple(tuple(g or "" for g in (m.group(0), *m.groups())) for m in _matches(rx, value, n))


def split(pattern, value):
    """Go's `Split(s, -1)`, trailing quirk included: no last piece when the last match
    ends the string where it starts."""
    name = "regex.split"
    pattern, value = string(pattern, name, 1), string(value, name, 2)
    rx = compile_regex(pattern, name)
    check_subject(pattern, value, name)
    if pattern and not value:
        return ("",)
    out: list[str] = []
    beg = end = 0
    for m in _matches(rx, value, -1):
        end = m.start()
        if m.end() != 0:
            out.append(value[beg:end])
        beg = m.end()
    if end != len(value):
        out.append(value[beg:])
    return tuple(out)


def _word_char(c: str) -> bool:
    return c == "_" or c.isalpha() or unicodedata.category(c) == "Nd"


def _expand(template: str, m: re.Match) -> str:
    """Go's `Regexp.Expand` of `template` for match `m`."""
    out: list[str] = []
    i, n = 0, len(template)
    while True:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            return "".join(out)
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        k = i + brace
        start = k
        while k < n and _word_char(template[k]):
            k += 1
        ident = template[start:k]
        if not ident or (brace and (k >= n or template[k] != "}")):
            out.append("$")  # malformed: a literal `$`
            continue
        i = k + brace
        if ident.isascii() and ident.isdigit() and (ident == "0" or ident[0] != "0") and len(ident) <= 8:
            g = int(ident)
            if g <= (m.re.groups or 0):
                out.append(m.group(g) or "")
        elif ident in m.re.groupindex:
            out.append(m.group(ident) or "")


def replace(s, pattern, value):
    """Go's `ReplaceAllString`: an empty match right after a match is not replaced."""
    name = "regex.replace"
    s, pattern, value = string(s, name, 1), string(pattern, name, 2), string(value, name, 3)
    rx = compile_regex(pattern, name)
    check_subject(pattern, s, name)
    out: list[str] = []
    last = search = 0
    while search <= len(s):
        m = rx.search(s, search)
        if m is None:
            break
        out.append(s[last:m.start()])
        if m.end() > last or m.start() == 0:
            out.append(_expand(value, m))
        last = m.end()
        search = max(m.end(), search + 1)
    out.append(s[last:])
    return "".join(out)


def is_valid(pattern):
    if type(pattern) is not str:
        return False
    try:
        compile_regex(pattern, "regex.is_valid")
    except Unsupported:
        raise
    except BuiltinError:
        return False
    return True


TABLE = {
    "regex.find_n": (3, find_n),
    "regex.find_all_string_submatch_n": (3, find_all_string_submatch_n),
    "regex.split": (2, split),
    "regex.replace": (3, replace),
    "regex.is_valid": (1, is_valid),
}
