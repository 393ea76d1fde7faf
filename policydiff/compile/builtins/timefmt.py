"""The `time.*` builtins that do not read the clock, with Go's `time` semantics.

A time is nanoseconds since the epoch, or `[ns, zone]` / `[ns, zone, layout]` with an
IANA zone name (`""` and `"UTC"` are UTC; `"Local"`, the machine's zone, is refused).
Nanoseconds must be a whole number that fits in 64 bits. Layouts are Go's reference
layouts (`2006-01-02T15:04:05Z07:00`, or the names `RFC3339`, `ANSIC`, ...), cut into
the same elements as Go's `nextStdChunk` and read or written as `time.Parse` and
`Time.Format` do. Refused when parsing: zone abbreviations (`MST`, resolved against
the machine's zone), days of the year, and non-ASCII text. `TABLE` maps each name to
`(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from policydiff.compile.builtins.operands import (
    BuiltinError,
    TypeError_,
    Unsupported,
    integer,
    string,
)
from policydiff.compile.values import Num, type_name

NS = 10**9
MIN_NS, MAX_NS = -(2**63), 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
LAYOUTS = {
    "ANSIC": "Mon Jan _2 15:04:05 2006",
    "UnixDate": "Mon Jan _2 15:04:05 MST 2006",
    "RubyDate": "Mon Jan 02 15:04:05 -0700 2006",
    "RFC822": "02 Jan 06 15:04 MST",
    "RFC822Z": "02 Jan 06 15:04 -0700",
    "RFC850": "Monday, 02-Jan-06 15:04:05 MST",
    "RFC1123": "Mon, 02 Jan 2006 15:04:05 MST",
    "RFC1123Z": "Mon, 02 Jan 2006 15:04:05 -0700",
    "RFC3339": "2006-01-02T15:04:05Z07:00",
    "RFC3339Nano": "2006-01-02T15:04:05.999999999Z07:00",
}
_ZONES: dict[str, ZoneInfo] = {}

# ------------------------------------------------------------------------- layouts

_PREFIXED = [  # (text, element) tried in order at each position, as Go's nextStdChunk does
    ("January", "LongMonth"), ("Jan", "Month"), ("Monday", "LongWeekDay"), ("Mon", "WeekDay"), ("MST", "TZ"),
    ("01", "ZeroMonth"), ("02", "ZeroDay"), ("03", "ZeroHour12"), ("04", "ZeroMinute"), ("05", "ZeroSecond"),
    ("06", "Year"), ("002", "ZeroYearDay"), ("15", "Hour"), ("1", "NumMonth"), ("2006", "LongYear"),
    ("2", "Day"), ("_2006", None), ("__2", "UnderYearDay"), ("_2", "UnderDay"), ("3", "Hour12"),
    ("4", "Minute"), ("5", "Second"), ("PM", "PM"), ("pm", "pm"),
    ("-070000", "NumSecondsTz"), ("-07:00:00", "NumColonSecondsTZ"), ("-0700", "NumTZ"),
    ("-07:00", "NumColonTZ"), ("-07", "NumShortTZ"),
    ("Z070000", "ISO8601SecondsTZ"), ("Z07:00:00", "ISO8601ColonSecondsTZ"), ("Z0700", "ISO8601TZ"),
    ("Z07:00", "ISO8601ColonTZ"), ("Z07", "ISO8601ShortTZ"),
]


def chunks(layout: str) -> list[tuple[str, str]]:
    """The layout as `("lit", text)` and `(element, text)` pieces."""
    out: list[tuple[str, str]] = []
    lit = []
    i, n = 0, len(layout)
    while i < n:
        c = layout[i]
        if c in ".," and i + 1 < n and layout[i + 1] in "09":
            j = i + 1
            while j < n and layout[j] == layout[i + 1]:
                j += 1
            if not (j < n and layout[j].isdigit()):
                out.append(("lit", "".join(lit)))
                lit = []
                out.append(("Frac0" if layout[i + 1] == "0" else "Frac9", layout[i:j]))
                i = j
                continue
        for text, elem in _PREFIXED:
            if layout.startswith(text, i):
                if elem is None:  # `_2006` is a literal `_` then the year
                    lit.append("_")
                    i += 1
                    break
                out.append(("lit", "".join(lit)))
                lit = []
                out.append((elem, text))
                i += len(text)
                break
        else:
            lit.append(c)
            i += 1
    out.append(("lit", "".join(lit)))
    return [p for p in out if p != ("lit", "")]


# ------------------------------------------------------------------------- times


def _zone(name: str, fn: str):
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        raise Unsupported(f"{fn}: the machine's time zone (`Local`)")
    z = _ZONES.get(name)
    if z is None:
        try:
            z = _ZONES[name] = ZoneInfo(name)
        except (ValueError, OSError, KeyError) as e:
            raise BuiltinError(f"{fn}: unknown time zone {name}") from e
    return z


def _ns_of(v, fn: str) -> int:
    t = type(v)
    if t is int:
        ns = v
    elif t is Num:
        if v.denominator != 1:
            raise BuiltinError(f"{fn}: timestamp too big")
        ns = int(v)
    else:
        raise TypeError_(f"{fn}: operand 1 must be number but got {type_name(v)}")
    if not MIN_NS <= ns <= MAX_NS:
        raise BuiltinError(f"{fn}: timestamp too big")
    return ns


def _time(v, fn: str) -> tuple[datetime, int, str]:
    """OPA's `tzTime`: the time (to the second) in its zone, the nanoseconds within the
    second, and the layout given with it."""
    zone, layout = UTC, ""
    if type(v) is tuple:
        if not v:
            raise TypeError_(f"{fn}: operand 1 must be either number (ns) or [number (ns), string (tz)] "
                             "but got array")
        ns = _ns_of(v[0], fn)
        if len(v) > 1:
            zone = _zone(string(v[1], fn, 1), fn)
        if len(v) > 2:
            layout = string(v[2], fn, 1)
    elif type(v) in (int, Num):
        ns = _ns_of(v, fn)
    else:
        raise TypeError_(f"{fn}: operand 1 must be either number (ns) or [number (ns), string (tz)] "
                         f"but got {type_name(v)}")
    sec, frac = divmod(ns, NS)
    return datetime.fromtimestamp(sec, zone), frac, layout


def _safe_ns(dt: datetime, frac: int, fn: str) -> int:
    delta = dt - EPOCH
    ns = (delta.days * 86400 + delta.seconds) * NS + frac
    if not MIN_NS <= ns <= MAX_NS:
        raise BuiltinError(f"{fn}: time outside of valid range")
    return ns


def date(v):
    t, _, _ = _time(v, "time.date")
    return (t.year, t.month, t.day)


def clock(v):
    t, _, _ = _time(v, "time.clock")
    return (t.hour, t.minute, t.second)


def weekday(v):
    t, _, _ = _time(v, "time.weekday")
    return DAYS[(t.weekday() + 1) % 7]


def add_date(v, years, months, days):
    fn = "time.add_date"
    t, frac, _ = _time(v, fn)
    years, months, days = integer(years, fn, 2), integer(months, fn, 3), integer(days, fn, 4)
    y, m = divmod(t.month - 1 + months, 12)
    y += t.year + years
    try:
        day = datetime(y, m + 1, 1) + timedelta(days=t.day - 1 + days)
    except (ValueError, OverflowError):
        raise BuiltinError(f"{fn}: time outside of valid range") from None
    local = day.replace(hour=t.hour, minute=t.minute, second=t.second)
    if t.tzinfo is UTC:
        return _safe_ns(local.replace(tzinfo=UTC), frac, fn)
    a, b = local.replace(tzinfo=t.tzinfo, fold=0), local.replace(tzinfo=t.tzinfo, fold=1)
    if a.utcoffset() != b.utcoffset():  # a wall time skipped or repeated by the zone
        raise Unsupported(f"{fn}: a wall time the zone skips or repeats")
    return _safe_ns(a, frac, fn)


def diff(a, b):
    fn = "time.diff"
    t1, f1, _ = _time(a, fn)
    t2, f2, _ = _time(b, fn)
    t2 = t2.astimezone(t1.tzinfo)
    if (t1, f1) > (t2, f2):
        t1, t2 = t2, t1
    year, month, day = t2.year - t1.year, t2.month - t1.month, t2.day - t1.day
    hour, minute, sec = t2.hour - t1.hour, t2.minute - t1.minute, t2.second - t1.second
    if sec < 0:
        sec, minute = sec + 60, minute - 1
    if minute < 0:
        minute, hour = minute + 60, hour - 1
    if hour < 0:
        hour, day = hour + 24, day - 1
    if day < 0:
        day, month = day + calendar.monthrange(t1.year, t1.month)[1], month - 1
    if month < 0:
        month, year = month + 12, year - 1
    return (year, month, day, hour, minute, sec)


# ------------------------------------------------------------------------- format


def _offset_text(elem: str, offset: int) -> str:
    if offset == 0 and elem.startswith("ISO"):
        return "Z"
    zone = offset // 60 if offset >= 0 else -((-offset) // 60)
    sign = "-" if zone < 0 else "+"
    zone, absoff = abs(zone), abs(offset)
    out = sign + f"{zone // 60:02d}"
    colon = "Colon" in elem
    if colon:
        out += ":"
    if "Short" not in elem:
        out += f"{zone % 60:02d}"
    if "Seconds" in elem:
        out += (":" if colon else "") + f"{absoff % 60:02d}"
    return out


def _format(t: datetime, frac: int, layout: str) -> str:
    out = []
    offset = int(t.utcoffset().total_seconds())
    for elem, text in chunks(layout):
        h12 = t.hour % 12 or 12
        match elem:
            case "lit":
                out.append(text)
            case "Year":
                out.append(f"{t.year % 100:02d}")
            case "LongYear":
                out.append(f"{t.year:04d}")
            case "Month":
                out.append(MONTHS[t.month - 1][:3])
            case "LongMonth":
                out.append(MONTHS[t.month - 1])
            case "NumMonth":
                out.append(str(t.month))
            case "ZeroMonth":
                out.append(f"{t.month:02d}")
            case "WeekDay":
                out.append(DAYS[(t.weekday() + 1) % 7][:3])
            case "LongWeekDay":
                out.append(DAYS[(t.weekday() + 1) % 7])
            case "Day":
                out.append(str(t.day))
            case "UnderDay":
                out.append(f"{t.day:>2d}")
            case "ZeroDay":
                out.append(f"{t.day:02d}")
            case "UnderYearDay":
                out.append(f"{t.timetuple().tm_yday:>3d}")
            case "ZeroYearDay":
                out.append(f"{t.timetuple().tm_yday:03d}")
            case "Hour":
                out.append(f"{t.hour:02d}")
            case "Hour12":
                out.append(str(h12))
            case "ZeroHour12":
                out.append(f"{h12:02d}")
            case "Minute":
                out.append(str(t.minute))
            case "ZeroMinute":
                out.append(f"{t.minute:02d}")
            case "Second":
                out.append(str(t.second))
            case "ZeroSecond":
                out.append(f"{t.second:02d}")
            case "PM":
                out.append("PM" if t.hour >= 12 else "AM")
            case "pm":
                out.append("pm" if t.hour >= 12 else "am")
            case "TZ":
                name = t.tzname() or ""
                if t.tzinfo is UTC:
                    name = "UTC"
                out.append(name if name else _offset_text("NumTZ", offset))
            case "Frac0":
                out.append(text[0] + f"{frac:09d}"[:len(text) - 1])
            case "Frac9":
                digits = f"{frac:09d}"[:len(text) - 1].rstrip("0")
                out.append(text[0] + digits if digits else "")
            case _:
                out.append(_offset_text(elem, offset))
    return "".join(out)


def format_(v):
    t, frac, layout = _time(v, "time.format")
    return _format(t, frac, LAYOUTS.get(layout, layout) if layout else LAYOUTS["RFC3339Nano"])
