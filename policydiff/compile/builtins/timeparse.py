"""`time.parse_ns`, `time.parse_rfc3339_ns` and `time.parse_duration_ns`: text to
nanoseconds as Go's `time.Parse` and `time.ParseDuration` read it.

A layout is cut into elements by `timefmt.chunks`; each element reads the value as
Go's `parse` does (one- or two-digit numbers where Go allows either, month and day
names in any case, zone offsets `Z`/`±hh[:mm[:ss]]`, any run of fraction digits after
the seconds); a run of spaces in the layout takes any run of spaces in the value. The
date is checked last (`day out of range`); the result must fit in 64-bit nanoseconds.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from policydiff.compile.builtins import timefmt
from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string

_MONTHS = [m.lower() for m in timefmt.MONTHS]
_DAYS = [d.lower() for d in timefmt.DAYS]


class _Bad(Exception):
    pass


def _getnum(s: str, fixed: bool) -> tuple[int, str]:
    if not s[:1].isdigit():
        raise _Bad
    if not s[1:2].isdigit():
        if fixed:
            raise _Bad
        return int(s[0]), s[1:]
    return int(s[:2]), s[2:]


def _atoi(s: str) -> int:
    t = s[1:] if s[:1] in "+-" else s
    if not t or not t.isdigit():
        raise _Bad
    return -int(t) if s[0] == "-" else int(t)


def _lookup(names: list[str], value: str, short: bool) -> tuple[int, str]:
    for i, name in enumerate(names):
        name = name[:3] if short else name
        if value[:len(name)].lower() == name:
            return i, value[len(name):]
    raise _Bad


def _skip(value: str, prefix: str) -> str:
    while prefix:
        if prefix[0] == " ":
            if value and value[0] != " ":
                raise _Bad
            prefix, value = prefix.lstrip(" "), value.lstrip(" ")
            continue
        if not value or value[0] != prefix[0]:
            raise _Bad
        prefix, value = prefix[1:], value[1:]
    return value


def _nanos(value: str, n: int) -> int:
    if value[0] not in ".,":
        raise _Bad
    n = min(n, 10)
    ns = _atoi(value[1:n])
    if ns < 0:
        raise _Bad
    return ns * 10 ** (10 - n)


def _offset(elem: str, value: str) -> tuple[int, str]:
    """Seconds east of UTC and the rest of the value, for the numeric zone elements."""
    if "Colon" in elem and "Seconds" not in elem:
        if len(value) < 6 or value[3] != ":":
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], "00", value[6:]
    elif "Short" in elem:
        if len(value) < 3:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], "00", "00", value[3:]
    elif "Colon" in elem:
        if len(value) < 9 or value[3] != ":" or value[6] != ":":
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[4:6], value[7:9], value[9:]
    elif "Seconds" in elem:
        if len(value) < 7:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], value[5:7], value[7:]
    else:
        if len(value) < 5:
            raise _Bad
        sign, hh, mm, ss, value = value[0], value[1:3], value[3:5], "00", value[5:]
    h, m, s = (_getnum(x, True)[0] for x in (hh, mm, ss))
    if h > 24 or m > 60 or s > 60:
        raise _Bad
    off = (h * 60 + m) * 60 + s
    if sign not in "+-":
        raise _Bad
    return (-off if sign == "-" else off), value


def parse(layout: str, value: str, fn: str) -> int:
    if not (layout.isascii() and value.isascii()):
        raise Unsupported(f"{fn}: non-ASCII layout or value")
    pieces = timefmt.chunks(layout)
    year, month, day, hour, minute, sec, ns = 0, -1, -1, 0, 0, 0, 0
    pm = am = False
    offset: int | None = None
    try:
        for k, (elem, text) in enumerate(pieces):
            if elem == "lit":
                value = _skip(value, text)
                continue
            match elem:
                case "Year":
                    if len(value) < 2:
                        raise _Bad
                    year = _atoi(value[:2])
                    year += 1900 if year >= 69 else 2000
                    value = value[2:]
                case "LongYear":
                    if len(value) < 4 or not value[0].isdigit():
                        raise _Bad
                    year, value = _atoi(value[:4]), value[4:]
                case "Month" | "LongMonth":
                    i, value = _lookup(_MONTHS, value, elem == "Month")
                    month = i + 1
                case "NumMonth" | "ZeroMonth":
                    month, value = _getnum(value, elem == "ZeroMonth")
                    if not 1 <= month <= 12:
                        raise _Bad
                case "WeekDay" | "LongWeekDay":
                    _, value = _lookup(_DAYS, value, elem == "WeekDay")
                case "Day" | "UnderDay" | "ZeroDay":
                    if elem == "UnderDay" and value[:1] == " ":
                        value = value[1:]
                    day, value = _getnum(value, elem == "ZeroDay")
                case "Hour":
                    hour, value = _getnum(value, False)
                    if hour >= 24:
                        raise _Bad
                case "Hour12" | "ZeroHour12":
                    hour, value = _getnum(value, elem == "ZeroHour12")
                    if hour > 12:
                        raise _Bad
                case "Minute" | "ZeroMinute":
                    minute, value = _getnum(value, elem == "ZeroMinute")
                    if minute >= 60:
                        raise _Bad
                case "Second" | "ZeroSecond":
                    sec, value = _getnum(value, elem == "ZeroSecond")
                    if sec >= 60:
                        raise _Bad
                    nxt = next((e for e, _ in pieces[k + 1:] if e != "lit"), None)
                    if len(value) >= 2 and value[0] in ".," and value[1].isdigit() and nxt not in ("Frac0", "Frac9"):
                        n = 2
                        while n < len(value) and value[n].isdigit():
                            n += 1
                        ns, value = _nanos(value, n), value[n:]
                case "PM" | "pm":
                    p = value[:2]
                    if len(p) < 2 or p not in (("PM", "AM") if elem == "PM" else ("pm", "am")):
                        raise _Bad
                    pm, am, value = p.upper() == "PM", p.upper() == "AM", value[2:]
                case "Frac0":
                    if len(value) < len(text):
                        raise _Bad
                    ns, value = _nanos(value, len(text)), value[len(text):]
                case "Frac9":
                    if len(value) >= 2 and value[0] in ".," and value[1].isdigit():
                        i = 0
                        while i + 1 < len(value) and value[i + 1].isdigit():
                            i += 1
                        ns, value = _nanos(value, 1 + i), value[1 + i:]
                case "TZ" | "UnderYearDay" | "ZeroYearDay":
                    raise Unsupported(f"{fn}: layout element `{text}`")
                case _:
                    if elem.startswith("ISO") and value[:1] == "Z":
                        offset, value = 0, value[1:]
                    else:
                        offset, value = _offset(elem, value)
        if value:
            raise _Bad
    except (_Bad, IndexError, ValueError):
        raise BuiltinError(f"{fn}: parsing time {value!r} as {layout!r}: cannot parse") from None
    if pm and hour < 12:
        hour += 12
    elif am and hour == 12:
        hour = 0
    month = 1 if month < 0 else month
    day = 1 if day < 0 else day
    if year < 1 or year > 9999:
        raise BuiltinError(f"{fn}: time outside of valid range")
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise BuiltinError(f"{fn}: parsing time: day out of range")
    t = datetime(year, month, day, hour, minute, sec, tzinfo=UTC)
    delta = t - timefmt.EPOCH
    total = (delta.days * 86400 + delta.seconds - (offset or 0)) * timefmt.NS + ns
    if not timefmt.MIN_NS <= total <= timefmt.MAX_NS:
        raise BuiltinError(f"{fn}: time outside of valid range")
    return total


def parse_ns(layout, value):
    fn = "time.parse_ns"
    layout, value = string(layout, fn, 1), string(value, fn, 2)
    return parse(timefmt.LAYOUTS.get(layout, layout), value, fn)


def parse_rfc3339_ns(value):
    fn = "time.parse_rfc3339_ns"
    return parse(timefmt.LAYOUTS["RFC3339"], string(value, fn, 1), fn)


_UNITS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9}
_LIMIT = 1 << 63


def parse_duration_ns(v):
    """Go's `ParseDuration`, its float rounding of fractions included. OPA 1.20 also
    takes `d`, `w` and `y` units, through another reader: those are refused."""
    fn = "time.parse_duration_ns"
    s = orig = string(v, fn, 1)
    if any(c in s for c in "dwy"):  # OPA 1.20 reads days, weeks and years with a parser of its own
        raise Unsupported(f"{fn}: durations in days, weeks or years")

    def bad(why: str = "invalid duration"):
        return BuiltinError(f"{fn}: time: {why} {orig!r}")

    neg = False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise bad()
    total = 0
    while s:
        if not (s[0] == "." or s[0].isascii() and s[0].isdigit()):
            raise bad()
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        pre, whole, s = i > 0, int(s[:i] or "0"), s[i:]
        if whole > _LIMIT:
            raise bad()
        frac, scale, post = 0, 1.0, False
        if s[:1] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and "0" <= s[i] <= "9":
                if not overflow:
                    y = frac * 10 + int(s[i])
                    if frac > (_LIMIT - 1) // 10 or y > _LIMIT:
                        overflow = True
                    else:
                        frac, scale = y, scale * 10
                i += 1
            post, s = i > 0, s[i:]
        if not pre and not post:
            raise bad()
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise bad("missing unit in duration")
        unit = _UNITS.get(s[:i])
        if unit is None:
            raise bad(f"unknown unit {s[:i]!r} in duration")
        s = s[i:]
        if whole > _LIMIT // unit:
            raise bad()
        whole *= unit
        if frac > 0:
            whole += int(float(frac) * (float(unit) / scale))
            if whole > _LIMIT:
                raise bad()
        total += whole
        if total > _LIMIT:
            raise bad()
    if neg:
        return -total
    if total > _LIMIT - 1:
        raise bad()
    return total


TABLE = {
    "time.parse_ns": (2, parse_ns),
    "time.parse_rfc3339_ns": (1, parse_rfc3339_ns),
    "time.parse_duration_ns": (1, parse_duration_ns),
    "time.date": (1, timefmt.date),
    "time.clock": (1, timefmt.clock),
    "time.weekday": (1, timefmt.weekday),
    "time.add_date": (4, timefmt.add_date),
    "time.diff": (2, timefmt.diff),
    "time.format": (1, timefmt.format_),
}
