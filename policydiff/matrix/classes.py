"""The value classes of one class of input paths, and the labels that name them.

A `ClassSpace` holds what the policies compare one class of input paths with (its
constants, string patterns and atoms) and the values that stand for every other value:
kinds of fresh values (`_Template`), one per combination of patterns a string can
realise, and values that are alone in their combination. `assignments()` enumerates
every combination of classes of the paths for the symbolic matrix; `label()` names
the class of one concrete value, with a `Label` — `Constant`, `Fresh`, `Composite` or
`Member` — that the tenancy realisation (`policydiff.matrix.realise`) groups requests by.
`ValueType` is what the request model lets a path hold.
"""

from __future__ import annotations

import enum
import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from policydiff.analysis import InputClass
from policydiff.compile import glob_regex
from policydiff.errors import Code, InputError
from policydiff.flowgraph import ELEM, Path, Pattern, position_of

OTHER = "(other)"  # the label of "any value the policies do not name"
MAX_COMBINATIONS = 250_000  # about half a minute of evaluation
MAX_SUBSETS = 4096  # members of one input collection enumerated as every subset
MAX_KINDS = 6  # kinds of fresh members of one input collection enumerated as every set

OBJECT = object()  # a path that is also read as an object: build it from its fields
ABSENT = object()  # a path no request of the model fixes: left out of the input
# an input array compared only with array patterns (`Analysis.arrays`): build it from
# its positions, up to the first that is absent
ARRAY = object()


class ValueType(enum.Enum):
    """What a path of the request model may hold."""

    STRING = "string"
    STRING_OR_NULL = "string or null"
    STRING_LIST = "list of strings"
    NOT_NULL = "any value but null"  # team lists of other shapes name teams, never null


# ------------------------------------------------------------------------- labels


class Constant(msgspec.Struct, frozen=True):
    """A value equal to one of the class's constants (`key` is its `value_key`)."""

    key: Any


class Fresh(msgspec.Struct, frozen=True):
    """A value equal to no constant: the patterns and atoms it satisfies, its JSON type
    and, among the scalars of one side of a request, which distinct such value it is."""

    sig: tuple[bool, ...]
    type: str
    index: int | None = None


class Composite(msgspec.Struct, frozen=True):
    """A list or an object."""

    type: str


class Member(msgspec.Struct, frozen=True):
    """A member of a collection equal to the `index`-th fresh scalar of its side."""

    index: int


Label = Constant | Fresh | Composite | Member


# ------------------------------------------------------------------------- patterns


_glob = functools.lru_cache(maxsize=1024)(glob_regex)  # the evaluator's reading of a glob


def matches(p: Pattern, value: Any) -> bool:
    if not isinstance(value, str):
        return False
    match p.kind:
        case "prefix":
            return value.startswith(p.text)
        case "suffix":
            return value.endswith(p.text)
        case "contains":
            return p.text in value
        case "glob":
            return _glob(p.text, p.delimiters).fullmatch(value) is not None
    return False


def _instance(p: Pattern, filler: str) -> str:
    """A string that matches `p`, built around `filler`."""
    match p.kind:
        case "prefix":
            return p.text + filler
        case "suffix":
            return filler + p.text
        case "contains":
            return filler + p.text
    text = re.sub(r"\[!?([^\]])[^\]]*\]", r"\1", p.text)
    text = re.sub(r"\{([^,}]*)[^}]*\}", r"\1", text)
    return text.replace("**", filler).replace("*", filler).replace("?", "x").replace("\\", "")


class _Template:
    """A kind of fresh value: matches exactly the patterns in `sig`."""

    __slots__ = ("label", "make", "sig")

    def __init__(self, make, sig: tuple[bool, ...], label: str):
        self.make, self.sig, self.label = make, sig, label


class _Fresh:
    """Fresh value number `index` of a template; `value` is its representative."""

    __slots__ = ("index", "template", "value")

    def __init__(self, template: _Template, index: int):
        self.template, self.index = template, index
        self.value = template.make(index)


_FILL = "\x00"  # where a fresh value's distinguishing text goes in a candidate shape
_ALIKE = 4  # fresh values of one kind checked to meet the same patterns


def _stem(paths: Sequence[Path]) -> str:
    """A name for the fresh values of a class, from its first path: `team-1`."""
    for p in sorted(paths, key=len):
        names = [k for k in p if k != ELEM]
        if names:
            name = names[-1]
            at = position_of(name)
            if at is not None:  # a position of a tuple: `path3-1`
                return f"{_stem([p[:-1]])}{at}"
            return name[:-1] if p[-1] == ELEM and name.endswith("s") else name
    return "value"


def _shapes(patterns: Sequence[Pattern]) -> list[str]:
    """Candidate strings for the pattern classes: each pattern filled, pairs of
    patterns nested in each other, and the patterns' literal fragments joined by the
    delimiters they use, with and without a fresh filler."""
    seps = {"", ":", ".", "/"} | {d for p in patterns for d in p.delimiters}
    words: set[str] = set()
    for p in patterns:
        text = re.sub(r"\[[^\]]*\]|\{[^}]*\}|\*+|\?", "\x01", p.text) if p.kind == "glob" else p.text
        for frag in text.split("\x01"):
            words.add(frag)
            for d in seps - {""}:
                words.update(frag.split(d))
    words = {w for w in words if w and len(w) <= 64}
    shapes = [_FILL] + [_instance(p, _FILL) for p in patterns]
    for a, b in itertools.permutations(patterns, 2):
        shapes.append(_instance(a, _instance(b, _FILL)))
        shapes.append(a.text + _FILL + b.text)
    for w in sorted(words):
        for sep in sorted(seps):
            shapes += [w + sep + _FILL, _FILL + sep + w]
    for w1, w2 in itertools.product(sorted(words), repeat=2):
        for sep in sorted(seps):
            shapes += [w1 + sep + w2, w1 + sep + _FILL + sep + w2]
    return shapes


def _templates(patterns: Sequence[Pattern], constants: frozenset,
               stem: str = "value") -> tuple[list[_Template], list[str]]:
    """Kinds of fresh values, one per combination of patterns the candidates realise,
    and the strings that are alone in their combination (`project:read` is the only
    string matching both `project:*` and `*:read` with `:` delimiters)."""

    def sig(v: str) -> tuple[bool, ...]:
        return tuple(matches(p, v) for p in patterns)

    # the varying part of fresh values: a number at the end, else (where patterns test
    # the end, `endswith(x, "1")`) a number between two `~`
    fills = (lambda i: f"{stem}-{i + 1}", lambda i: f"~{stem}{i + 1}~")

    templates: dict[tuple[bool, ...], _Template] = {}
    fixed: dict[tuple[bool, ...], str] = {}
    for fill in fills:
        for shape in _shapes(patterns) if patterns else [_FILL]:
            v0 = shape.replace(_FILL, fill(0))
            s0 = sig(v0)
            if s0 in templates or v0 in constants:
                continue
            variants = [shape] if _FILL in shape else []
            variants += [shape[:k] + _FILL + shape[k:] for k in range(len(shape) + 1)] if _FILL not in shape else []
            for v in variants:
                # the first few values, which fresh values of one class use, all alike
                vs = [v.replace(_FILL, fill(i)) for i in range(_ALIKE)]
                if all(sig(w) == s0 and w not in constants for w in vs):
                    templates[s0] = _Template(lambda i, v=v, fill=fill: v.replace(_FILL, fill(i)), s0,
                                              v.replace(_FILL, OTHER))
                    fixed.pop(s0, None)
                    break
            else:
                fixed.setdefault(s0, v0)
    return list(templates.values()), [v for s_, v in fixed.items() if s_ not in templates]


# -------------------------------------------------------------------------- classes


_ALL_DOMAINS = frozenset({"null", "boolean", "number", "string", "array", "object"})
_DOMAINS_OF = {ValueType.STRING: frozenset({"string"}),
               ValueType.STRING_OR_NULL: frozenset({"string", "null"}),
               ValueType.NOT_NULL: _ALL_DOMAINS - {"null"}}


class ClassSpace:
    """One class of input paths with its constants and kinds of fresh values."""

    def __init__(self, cls: InputClass, scalars: list[Path], collections: list[Path],
                 objects: set[Path], types: Mapping[Path, ValueType], whole: set[Path],
                 arrays: frozenset[Path] = frozenset()):
        self.cls = cls
        self.arrays = arrays  # tuples of positions: `ARRAY` is one of their values
        self.whole = whole
        self.scalars, self.collections, self.objects, self.types = scalars, collections, objects, types
        self.constants = {value_key(c): c for c in cls.constants}
        # per collection, the constants its members are compared with directly (None:
        # every constant of the class may be), see `InputClass.member_constants`
        self.tested: dict[Path, frozenset] = {} if cls.member_constants is None else {
            p[:-1]: frozenset(value_key(v) for v in consts) for p, consts in cls.member_constants}
        self.patterns = cls.patterns
        self.atoms = cls.atoms
        # tests on one value, and relations between two (`policydiff.relations`)
        self.unary = [a for a in cls.atoms if a.other is None]
        self.relations = [a for a in cls.atoms if a.other is not None]
        self.unproved: list[str] = []
        if self.unary:
            self.templates, self.fixed = self._solved()
        else:
            self.templates, self.fixed = _templates(cls.patterns, frozenset(c for c in cls.constants),
                                                    _stem(scalars + [c + (ELEM,) for c in collections]))
        self._labels: dict[Any, Label] = {}
        self._described: dict[tuple[type, Any], str] = {}  # `describe` of scalars seen
        self._assignments: list[dict[Path, Any]] | None = None

    def signature(self, value: Any) -> tuple[bool, ...]:
        """Which patterns `value` matches and which atoms hold on it."""
        tests = tuple(matches(p, value) for p in self.patterns)
        if not self.unary:
            return tests
        from policydiff import solver  # z3 only for policies that need it

        return tests + tuple(solver.truth(a, value, absent=value is ABSENT) for a in self.unary)

    def _solved(self) -> tuple[list[_Template], list[Any]]:
        """Templates and fixed values from the solver (`policydiff.solver`), for a
        class whose values atoms test; what it cannot prove goes to `unproved`."""
        from policydiff import solver

        paths = self.scalars + [c + (ELEM,) for c in self.collections]
        domains: set[str] = set()
        for p in paths:
            domains |= _DOMAINS_OF.get(self.types.get(p), _ALL_DOMAINS)
        need = max(1, len(self.scalars) + len(self.collections))
        found = solver.values_for(self.unary, self.patterns, matches, self.cls.constants, domains, need)
        self.unproved += found.unproved
        templates, fixed = [], []
        for (domain, sig), values in found.by_sig.items():
            if len(values) >= need and (domain, sig) not in found.exhausted:
                label = f"(like {shown(values[0])})"
                templates.append(_Template(lambda i, vs=values: vs[i], sig, label))
                continue
            fixed += values
            if (domain, sig) not in found.exhausted:
                self.unproved.append(f"{self.unary[0].where}: {self.unary[0].construct}: fewer "
                                     f"than {need} distinct values found for one of its cases")
        for p in self.objects | self.arrays | set(self.collections):
            for a in self.atoms:
                if a.path == p:
                    self.unproved.append(f"{a.where}: {a.construct} on `input.{'.'.join(p)}`, which is "
                                         "also read as an object or collection (not modelled as one value)")
        return templates, fixed

    @functools.cached_property
    def mistyped(self) -> Any:
        """A number none of the class's constants is: the representative of every
        value that is not a string, where the class is tested by string patterns."""
        numbers = [c for c in self.cls.constants if isinstance(c, (int, float)) and not isinstance(c, bool)]
        return max(numbers, default=-1) + 1

    def allowed(self, path: Path, value: Any) -> bool:
        t = self.types.get(path)
        if t is None:
            return True
        if t is ValueType.STRING_OR_NULL:
            return value is None or isinstance(value, str)
        if t is ValueType.NOT_NULL:
            return value is not None
        return isinstance(value, str)

    def assignments(self) -> list[dict[Path, Any]]:
        """Every combination of classes of this class's paths, one representative each
        (computed once: `policydiff.search` and the enumeration both ask; not to be
        changed by callers)."""
        if self._assignments is None:
            self._assignments = self._assign()
        return self._assignments

    def _assign(self) -> list[dict[Path, Any]]:
        results: list[dict[Path, Any]] = []
        consts = list(self.cls.constants) + self.fixed

        def rec(i: int, current: dict[Path, Any], fresh: list[_Fresh]) -> None:
            if i == len(self.scalars):
                self._collections(current, fresh, results)
                if len(results) > MAX_COMBINATIONS:
                    raise too_large(f"more than {MAX_COMBINATIONS} for the class of "
                                    + ", ".join(f"`input.{'.'.join(p)}`" for p in self.cls.paths[:3]))
                return
            path = self.scalars[i]
            for v in self._options(path, consts):
                current[path] = v
                rec(i + 1, current, fresh)
            for f in fresh:
                if self.allowed(path, f.value):
                    current[path] = f.value
                    rec(i + 1, current, fresh)
            for t in self.templates:
                if not self.allowed(path, t.make(0)):
                    continue
                f = _Fresh(t, len(fresh))
                current[path] = f.value
                rec(i + 1, current, fresh + [f])
            current.pop(path, None)

        rec(0, {}, [])
        if self.relations:
            results += self._related(results)
        return results

    def _options(self, path: Path, consts: list) -> list[Any]:
        """The values of `path` other than fresh ones: constants, an object, absent or
        mistyped where no model fixes its type."""
        options: list[Any] = [c for c in consts if self.allowed(path, c)]
        if path in self.objects:
            options.append(OBJECT)
        if path in self.arrays:
            options.append(ARRAY)
        if path not in self.types:  # no model fixes it: it may be missing or mistyped
            options.append(ABSENT)
            if self.patterns:  # string tests fail on other types, not only on strings
                options.append(self.mistyped)
        return options

    def _related(self, results: list[dict[Path, Any]]) -> list[dict[Path, Any]]:
        """Tuples of values for the paths the relations read (`policydiff.relations`)."""
        from policydiff import relations

        related = sorted({p for a in self.relations for p in (a.path, a.other)})
        first = self.relations[0]
        if len(related) > relations.MAX_RELATED:
            self.unproved.append(f"{first.where}: {first.construct} relates {len(related)} input values "
                                 f"together, more than {relations.MAX_RELATED} (not modelled)")
            return []
        if not set(related) <= set(self.scalars):
            self.unproved.append(f"{first.where}: {first.construct} relates members of an input "
                                 "collection (not modelled)")
            return []
        if set(related) & self.objects:  # its members or fields are another class's choice
            self.unproved.append(f"{first.where}: {first.construct} relates a value also read as an "
                                 "object or collection (not modelled)")
            return []
        at = {p: i for i, p in enumerate(related)}
        rels = [(at[a.path], at[a.other], a) for a in self.relations]
        known = [tuple(ABSENT if r.get(p, ABSENT) is ABSENT else r[p] for p in related) for r in results
                 if not any(r.get(p) is OBJECT or r.get(p) is ARRAY for p in related)]
        domains = []
        for p in related:
            d = set(_DOMAINS_OF.get(self.types.get(p), _ALL_DOMAINS))
            if p not in self.types and len(related) > 2:  # (beside one absent value, the
                d.add(relations.ABSENT_DOMAIN)             # assignments decide a pair's other)
            domains.append(d)
        found = relations.Tuples(len(related), self.unary, rels, self.patterns, matches,
                                 list(self.cls.constants), ABSENT)
        extra = found.tuples(domains, known)
        self.unproved += [w for w in found.why if w not in self.unproved]
        out: list[dict[Path, Any]] = []
        rest = [r for r in self.scalars if r not in at]
        for t in extra:
            if all(v is ABSENT or self.allowed(p, v) for p, v in zip(related, t)):
                out += self._beside(dict(zip(related, t)), rest)
        return out

    def _beside(self, related: dict[Path, Any], rest: list[Path]) -> list[dict[Path, Any]]:
        """The class's other paths and collections next to related values: no relation
        reads them, so they meet the related values by equality only — each takes one of
        them, a constant, or a fresh value of each kind distinct from them (and from the
        fresh values the paths before it took); a collection's members are any of these."""
        consts = list(self.cls.constants) + self.fixed
        taken = [v for v in related.values() if v is not ABSENT]
        out: list[dict[Path, Any]] = []

        def rec(i: int, current: dict[Path, Any], used: list) -> None:
            if i == len(rest):
                self._collections(current, [], out, beside=taken + used)
                return
            path = rest[i]
            options = self._options(path, consts) + [v for v in taken + used if self.allowed(path, v)]
            for v in options:
                current[path] = v
                rec(i + 1, current, used)
            for t in self.templates:
                v = self._distinct(t, taken + used)
                if v is None:
                    self._too_few(path)
                elif self.allowed(path, v):
                    current[path] = v
                    rec(i + 1, current, used + [v])
            current.pop(path, None)

        rec(0, dict(related), [])
        return out

    def _too_few(self, path: Path) -> None:
        why = f"`input.{'.'.join(path)}`: too few values of one kind beside related values"
        if why not in self.unproved:
            self.unproved.append(why)

    @staticmethod
    def _distinct(t: _Template, avoid: list) -> Any:
        """A value of kind `t` equal to none of `avoid`, None when the kind has too few."""
        for i in range(len(avoid) + 1):
            try:
                v = t.make(i)
            except IndexError:  # a solver template holds a few values only
                return None
            if not any(value_key(v) == value_key(w) for w in avoid):
                return v
        return None

    def _collections(self, current: dict[Path, Any], fresh: list[_Fresh], out: list,
                     beside: list | None = None) -> None:
        """Every choice of members of the class's collections next to `current`: the
        class's constants, fixed and fresh values (`beside`: the values of a row next
        to related values, in place of `fresh`)."""
        if not self.collections:
            out.append(dict(current))
            return
        values = [f.value for f in fresh] if beside is None else beside
        pool = list(self.cls.constants) + self.fixed + values
        per_collection = []
        taken = {value_key(v) for v in current.values() if v is not ABSENT and v is not OBJECT and v is not ARRAY}
        for c in self.collections:
            elem = c + (ELEM,)
            members = [v for v in pool if self.allowed(elem, v)]
            if c in self.tested:  # a constant tested only as a path's value: only as its value
                members = [v for v in members if value_key(v) not in self.constants
                           or value_key(v) in self.tested[c] or value_key(v) in taken]
            choices: list[Any] = [] if c in self.types else [ABSENT]
            extras: list[tuple] = [()]
            if c in self.whole:  # elements equal to no value of the class matter: any set
                if beside is None:
                    made = [_Fresh(t, len(fresh)).value for t in self.templates]
                else:
                    made = [self._distinct(t, beside) for t in self.templates]
                    if any(v is None for v in made):
                        self._too_few(elem)
                kinds = [v for v in made if v is not None and self.allowed(elem, v)]  # of kinds
                extras = self._kinds(c, kinds)  # (`some t in c` tests each)
            for subset in self._subsets(c, members):
                for extra in extras:
                    choices.append(list(subset) + list(extra))
            per_collection.append(choices)
        for combo in itertools.product(*per_collection):
            a = dict(current)
            for c, items in zip(self.collections, combo):
                a[c] = items
            out.append(a)

    def _kinds(self, c: Path, kinds: list) -> list[tuple]:
        """Every set of fresh elements, one of each kind at most (two tests of one
        collection may each need a member of its own kind), or, past `MAX_KINDS` kinds,
        the sets of at most one (a witness search; the class is then unproved)."""
        if len(kinds) <= MAX_KINDS:
            return [s for r in range(len(kinds) + 1) for s in itertools.combinations(kinds, r)]
        reason = (f"`input.{'.'.join(c)}`: {len(kinds)} kinds of other members; only the sets of "
                  "at most one of them were evaluated")
        if reason not in self.unproved:
            self.unproved.append(reason)
        return [()] + [(k,) for k in kinds]

    def _subsets(self, c: Path, members: list) -> Iterator[tuple]:
        """Every subset of `members`, or, past `MAX_SUBSETS`, those of at most two and
        of all but at most one member (a witness search; the class is then unproved)."""
        n = len(members)
        if 2 ** n <= MAX_SUBSETS:
            for r in range(n + 1):
                yield from itertools.combinations(members, r)
            return
        reason = (f"`input.{'.'.join(c)}`: {n} values may be its members; only the sets of at "
                  "most two of them and of all but at most one were evaluated")
        if reason not in self.unproved:
            self.unproved.append(reason)
        for r in (0, 1, 2):
            yield from itertools.combinations(members, r)
        for r in (n - 1, n):
            yield from itertools.combinations(members, r)

    # ---- abstraction of concrete values (tenancy mode)

    def describe(self, value: Any) -> str:
        """A constant as itself; any other value by the patterns it matches."""
        t = type(value)
        if t is str or t is int or t is bool or value is None:
            ck = (t, value)  # True == 1, yet they are described apart
            out = self._described.get(ck)
            if out is None:
                out = self._describe(value)
                if len(self._described) < 100_000:
                    self._described[ck] = out
            return out
        return self._describe(value)

    def _describe(self, value: Any) -> str:
        if isinstance(value, dict):
            return "(object)"
        if value is ABSENT:
            return "(absent)"
        if value_key(value) in self.constants:  # labelled as its cell is (1.0 in the cell of 1)
            return shown(self.constants[value_key(value)])
        if self.atoms:
            same = [v for v in self.fixed if value_key(v) == value_key(value)]
            if same:
                return shown(same[0])
        sig = self.signature(value)
        label = next((t.label for t in self.templates if t.sig == sig), None)
        if label is None:
            label = next((v for v in self.fixed if self.signature(v) == sig), OTHER)
        return label

    def label(self, value: Any) -> Label:
        """The class of one value: itself if a constant, else its pattern signature."""
        ck = (value.__class__, value)  # True == 1, yet they are different values
        try:
            return self._labels[ck]
        except KeyError:
            pass
        except TypeError:  # unhashable: a list or an object
            return Composite(type(value).__name__)
        k = value_key(value)
        lab: Label = Constant(k) if k in self.constants or self.relations else Fresh(self.signature(value), type(value).__name__)
        if len(self._labels) < 100_000:
            self._labels[ck] = lab
        return lab


def value_key(v: Any) -> Any:
    """What a constant is equal to as OPA compares: numbers by value (1 == 1.0), never
    a boolean with a number (True == 1 in Python)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return ("number", v)
    return (type(v).__name__, v) if isinstance(v, (bool, str, type(None))) else ("x", repr(v))


def shown(v: Any) -> str:
    """A value as reports show it in a cell."""
    if v is OBJECT:
        return "(object)"
    if v is ARRAY:
        return "(array)"
    if isinstance(v, str):
        return v
    return json.dumps(v)


def too_large(why: str) -> InputError:
    return InputError.at(Code.MATRIX_TOO_LARGE, f"the symbolic matrix is too large: {why}",
                         help="compare with --tenancy, or split the policies' comparisons")
