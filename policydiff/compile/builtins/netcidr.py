"""The `net.cidr_*` builtins, as OPA reads addresses and networks with Go's `net`.

A network is `ADDRESS/BITS`: the address IPv4 dotted (no leading zeros) or IPv6, no
zone; the bits decimal digits (leading zeros allowed) up to the family's width. The
network keeps the masked address. Containment never crosses families. A bare IPv4
address given to `net.cidr_merge` takes its classful mask (`/8`, `/16`, `/24` by the
first octet) and keeps its own address, as Go's `DefaultMask` does (`1.2.3.4/8`).
Merging follows OPA's algorithm: ranges sorted by last then first address, each
joined to the one before it when they touch; a network never joined is written as
given, a joined range as the fewest networks that cover it.

Refused rather than guessed: IPv4 written inside IPv6 (`::ffff:1.2.3.4`) and IPv6
networks in or next to the IPv4-mapped block when they meet IPv4 ones or are written
out (Go prints those as IPv4), and expansions of more than 65536 addresses.
`TABLE` maps each name to `(arity, function)` for `builtins.BUILTINS`.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address, ip_address, summarize_address_range

from policydiff.compile.builtins.operands import BuiltinError, Unsupported, string
from policydiff.compile.values import Obj

Addr = IPv4Address | IPv6Address
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_MAPPED_SPAN = (int(_MAPPED.network_address), int(_MAPPED.broadcast_address))
_NEAR_MAPPED = (_MAPPED_SPAN[0] - 1, _MAPPED_SPAN[1] + 1)
_MAX_EXPAND = 65536


def parse_ip(s: str, name: str) -> Addr | None:
    """Go's `net.ParseIP`, or None."""
    if "%" in s or not s.isascii():
        return None
    if ":" in s and "." in s:
        raise Unsupported(f"{name}: IPv4 written inside IPv6 (`{s}`)")
    try:
        a = ip_address(s)
    except ValueError:
        return None
    if type(a) is IPv6Address and a.ipv4_mapped is not None:
        raise Unsupported(f"{name}: an IPv4-mapped IPv6 address (`{s}`)")
    return a


def parse_cidr(s: str, name: str) -> tuple[Addr, int] | None:
    """Go's `net.ParseCIDR`: the masked address and the prefix length, or None."""
    addr, slash, bits = s.partition("/")
    if not slash or not bits.isascii() or not bits.isdigit():
        return None
    a = parse_ip(addr, name)
    if a is None or int(bits) > a.max_prefixlen:
        return None
    n = int(bits)
    return type(a)(int(a) & _mask(a, n)), n


def _mask(a: Addr, n: int) -> int:
    w = a.max_prefixlen
    return ((1 << n) - 1) << (w - n)


def _last(a: Addr, n: int) -> int:
    return int(a) | ((1 << (a.max_prefixlen - n)) - 1)


def _net(v, name: str, pos: int = 1) -> tuple[Addr, int]:
    s = string(v, name, pos)
    net = parse_cidr(s, name)
    if net is None:
        raise BuiltinError(f"{name}: invalid CIDR address: {s}")
    return net


def _contains(a, b, name: str = "net.cidr_contains") -> bool:
    net, n = _net(a, name)
    s = string(b, name, 1)
    ip = parse_ip(s, name)
    if ip is not None:
        return type(ip) is type(net) and int(ip) & _mask(net, n) == int(net)
    other = parse_cidr(s, name)
    if other is None:
        raise BuiltinError(f"{name}: not a valid textual representation of an IP address or CIDR: {s}")
    first, m = other
    if type(first) is not type(net):
        return False
    mask = _mask(net, n)
    return int(first) & mask == int(net) and _last(first, m) & mask == int(net)


def contains(a, b):
    return _contains(a, b)


def intersects(a, b):
    name = "net.cidr_intersects"
    (x, n), (y, m) = _net(a, name, 1), _net(b, name, 2)
    if type(x) is not type(y):
        return False
    return int(y) & _mask(x, n) == int(x) or int(x) & _mask(y, m) == int(y)


def is_valid(v):
    return type(v) is str and parse_cidr(v, "net.cidr_is_valid") is not None


def expand(v):
    name = "net.cidr_expand"
    net, n = _net(v, name)
    size = 1 << (net.max_prefixlen - n)
    if size > _MAX_EXPAND:
        raise Unsupported(f"{name}: {size} addresses are too many to enumerate")
    first = int(net)
    if type(net) is IPv6Address and _overlaps(first, first + size - 1, _MAPPED_SPAN):
        raise Unsupported(f"{name}: IPv6 addresses of the IPv4-mapped block")
    return frozenset(str(type(net)(first + i))
                     for i in range(size))


def _overlaps(first: int, last: int, span: tuple[int, int]) -> bool:
    return first <= span[1] and span[0] <= last


def _match_items(v, pos: int):
    """`(cidr, index)` pairs of an operand of `net.cidr_contains_matches`."""
    name = "net.cidr_contains_matches"

    def cidr(x):
        if type(x) is str:
            return x
        if type(x) is tuple and x:
            return x[0]
        raise BuiltinError(f"{name}: operand {pos}: element must be string or non-empty array")

    t = type(v)
    if t is str:
        return [(v, v)]
    if t is tuple:
        return [(cidr(x), i) for i, x in enumerate(v)]
    if t is frozenset:
        return [(cidr(x), x) for x in v]
    if t is Obj:
        return [(cidr(x), k) for k, x in v.items()]
    return []


def contains_matches(a, b):
    name = "net.cidr_contains_matches"
    out = set()
    for c1, i1 in _match_items(a, 1):
        for c2, i2 in _match_items(b, 2):
            if _contains(c1, c2, name):
                out.add((i1, i2))
    return frozenset(out)


def _merge_input(v) -> list[tuple[int, int, str, bool]]:
    """`(first, last, text, v6)` per element: its range and how Go writes it unmerged."""
    name = "net.cidr_merge"
    if type(v) not in (tuple, frozenset):
        raise BuiltinError(f"{name}: operand must be an array")
    out = []
    for e in v:
        if type(e) is not str:
            raise BuiltinError(f"{name}: element must be string")
        ip = parse_ip(e, name)
        if ip is None:
            net = parse_cidr(e, name)
            if net is None:
                raise BuiltinError(f"{name}: invalid CIDR address: {e}")
            a, n = net
        elif type(ip) is IPv6Address:
            raise BuiltinError(f"{name}: IPv6 invalid: needs prefix length")
        else:
            n = 8 if ip.packed[0] < 0x80 else 16 if ip.packed[0] < 0xC0 else 24
            a = ip
        first = int(a) & _mask(a, n)
        out.append((first, first | ((1 << (a.max_prefixlen - n)) - 1), f"{a}/{n}", type(a) is IPv6Address))
    return out


def merge(v):
    name = "net.cidr_merge"
    nets = _merge_input(v)
    v6 = [x for x in nets if x[3]]
    if v6 and len(v6) < len(nets) and any(_overlaps(f, la, _NEAR_MAPPED) for f, la, _, _ in v6):
        raise Unsupported(f"{name}: IPv6 networks next to the IPv4-mapped block with IPv4 ones")
    out: set[str] = set()
    for family in ([x for x in nets if not x[3]], v6):
        ranges: list[list] = sorted(([f, la, text] for f, la, text, _ in family), key=lambda r: (r[1], r[0]))
        for i in range(len(ranges) - 1, 0, -1):
            if max(ranges[i][0] - 1, 0) <= ranges[i - 1][1]:
                ranges[i - 1] = [min(ranges[i - 1][0], ranges[i][0]), ranges[i][1], None]
                del ranges[i]
        six = family is v6
        for first, last, text in ranges:
            if six and _overlaps(first, last, _MAPPED_SPAN):
                raise Unsupported(f"{name}: IPv6 networks of the IPv4-mapped block")
            if text is not None:
                out.add(text)
                continue
            kind = IPv6Address if six else IPv4Address
            out.update(str(n) for n in summarize_address_range(kind(first), kind(last)))
    return frozenset(out)


TABLE = {
    "net.cidr_contains": (2, contains),
    "net.cidr_overlap": (2, contains),
    "net.cidr_intersects": (2, intersects),
    "net.cidr_is_valid": (1, is_valid),
    "net.cidr_expand": (1, expand),
    "net.cidr_contains_matches": (2, contains_matches),
    "net.cidr_merge": (1, merge),
}
