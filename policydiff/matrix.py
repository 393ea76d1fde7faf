"""The matrix: dimensions, the value classes of every input path, and the cells.

From an `Analysis` (what the policies compare each input path with) this module builds
a `Space`: for every class of paths, the values that stand for all others — each
constant, one string per realisable combination of string patterns, and fresh values
that are equal or not to each other. Two requests that agree on which class every path
falls in are decided alike by both policies, so one representative per combination
decides every request of the combination, and a cell's verdict covers all its
requests without sampling.

`Space.representatives()` enumerates the combinations for the symbolic matrix
(tenant `"*"`), with the relation realised by construction; `Space.signature()` gives
the class combination of a concrete request, which `policydiff.graph` uses to group a
tenancy's requests.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

from policydiff.analysis import ELEM, Analysis, InputClass, Path, Pattern
from policydiff.compile.patterns import glob_regex
from policydiff.errors import InputError

ANY = "*"  # the tenant (or another dimension) when the matrix does not split on it
OTHER = "(other)"  # the label of "any value the policies do not name"
DIMENSIONS = ("tenant", "role", "action", "subject_enterprise", "subject_teams",
              "resource_enterprise", "resource_team")
MAX_COMBINATIONS = 250_000  # about half a minute of evaluation
MAX_SUBSETS = 4096  # members of one input collection enumerated as every subset


class Dimensions(msgspec.Struct, frozen=True, kw_only=True):
    """Where each dimension of a cell lives in the input. `runbook` is docs/design.md's
    request model, whose shape and types are fixed; otherwise the shape is whatever
    the policies read."""

    tenant: Path | None = ("subject", "enterprise")
    role: Path | None = ("subject", "role")
    action: Path | None = ("action",)
    subject_enterprise: Path | None = ("subject", "enterprise")
    subject_teams: Path | None = ("subject", "teams")
    resource_enterprise: Path | None = ("resource", "enterprise")
    resource_team: Path | None = ("resource", "team")
    runbook: bool = True
    symbolic_tenant: bool = False  # split the symbolic matrix on the tenant's classes

    @property
    def relation_paths(self) -> tuple[Path | None, ...]:
        return (self.subject_enterprise, self.resource_enterprise, self.resource_team,
                self.subject_teams)

    @property
    def has_relation(self) -> bool:
        return all(p is not None for p in self.relation_paths)


RUNBOOK = Dimensions()

# The request model's leaves and their types: "s" string, "n" string or null, "l" list
# of strings; "x" (any value but null) is used for team lists of other shapes.
_RUNBOOK_TYPES: dict[Path, str] = {
    ("subject", "id"): "s", ("subject", "enterprise"): "s", ("subject", "role"): "s",
    ("subject", "teams"): "l", ("subject", "teams", ELEM): "s", ("action",): "s",
    ("resource", "id"): "s", ("resource", "kind"): "s", ("resource", "enterprise"): "s",
    ("resource", "team"): "n",
}


def parse_path(text: str) -> Path:
    """`input.user.role` (or `user.role`) -> ("user", "role")."""
    parts = [p for p in re.split(r"\.|\[\"?|\"?\]", text.strip()) if p]
    if parts and parts[0] == "input":
        parts = parts[1:]
    if not parts or any(not re.fullmatch(r"[\w:-]+", p) for p in parts):
        raise InputError.at("bad_dimension", f"`{text}` is not an input path like `input.user.role`")
    return tuple(parts)


def dimensions(specs: Sequence[str]) -> Dimensions:
    """`NAME=PATH` flags onto the request model. Naming any dimension leaves the
    request model: dimensions not named are then not split on (`*`) unless they keep
    their request-model path and a policy reads it (decided by the `Space`)."""
    if not specs:
        return RUNBOOK
    fields: dict[str, Any] = {"runbook": False}
    for spec in specs:
        name, sep, path = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in DIMENSIONS:
            raise InputError.at("bad_dimension", f"`{spec}`: expected NAME=PATH with NAME one of "
                                + ", ".join(f"`{d}`" for d in DIMENSIONS))
        fields[name] = parse_path(path)
        if name == "tenant":
            fields["symbolic_tenant"] = True
    if "tenant" not in fields:
        fields["tenant"] = None
    return Dimensions(**fields)


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


# -------------------------------------------------------------------------- classes


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


_OBJECT = object()  # a path that is also read as an object: build it from its fields
ABSENT = object()  # a path no request of the model fixes: left out of the input


_FILL = "\x00"  # where a fresh value's distinguishing text goes in a candidate shape


def _stem(paths: Sequence[Path]) -> str:
    """A name for the fresh values of a class, from its first path: `team-1`."""
    for p in sorted(paths, key=len):
        names = [k for k in p if k != ELEM]
        if names:
            name = names[-1]
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

    def _fill(i: int) -> str:
        return f"{stem}-{i + 1}"

    templates: dict[tuple[bool, ...], _Template] = {}
    fixed: dict[tuple[bool, ...], str] = {}
    for shape in _shapes(patterns) if patterns else [_FILL]:
        v0 = shape.replace(_FILL, _fill(0))
        s0 = sig(v0)
        if s0 in templates or v0 in constants:
            continue
        variants = [shape] if _FILL in shape else []
        variants += [shape[:k] + _FILL + shape[k:] for k in range(len(shape) + 1)] if _FILL not in shape else []
        for v in variants:
            a, b = v.replace(_FILL, _fill(0)), v.replace(_FILL, _fill(1))
            if sig(a) == s0 and sig(b) == s0 and a not in constants and b not in constants:
                templates[s0] = _Template(lambda i, v=v: v.replace(_FILL, _fill(i)), s0,
                                          v.replace(_FILL, OTHER))
                fixed.pop(s0, None)
                break
        else:
            fixed.setdefault(s0, v0)
    return list(templates.values()), [v for s_, v in fixed.items() if s_ not in templates]


_ALL_DOMAINS = frozenset({"null", "boolean", "number", "string", "array", "object"})
_DOMAINS_OF = {"s": frozenset({"string"}), "n": frozenset({"string", "null"}),
               "x": _ALL_DOMAINS - {"null"}}


class ClassSpace:
    """One class of input paths with its constants and kinds of fresh values."""

    def __init__(self, cls: InputClass, scalars: list[Path], collections: list[Path],
                 objects: set[Path], types: Mapping[Path, str], whole: set[Path]):
        self.cls = cls
        self.whole = whole
        self.scalars, self.collections, self.objects, self.types = scalars, collections, objects, types
        self.constants = {_ckey(c): c for c in cls.constants}
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
        self._labels: dict[Any, Any] = {}

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
                label = f"(like {_label(values[0])})"
                templates.append(_Template(lambda i, vs=values: vs[i], sig, label))
                continue
            fixed += values
            if (domain, sig) not in found.exhausted:
                self.unproved.append(f"{self.unary[0].where}: {self.unary[0].construct}: fewer "
                                     f"than {need} distinct values found for one of its cases")
        for p in self.objects | set(self.collections):
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
        if t == "n":
            return value is None or isinstance(value, str)
        if t == "x":
            return value is not None
        return isinstance(value, str)

    def assignments(self) -> list[dict[Path, Any]]:
        """Every combination of classes of this class's paths, one representative each."""
        results: list[dict[Path, Any]] = []
        consts = list(self.cls.constants) + self.fixed

        def rec(i: int, current: dict[Path, Any], fresh: list[_Fresh]) -> None:
            if i == len(self.scalars):
                self._collections(current, fresh, results)
                if len(results) > MAX_COMBINATIONS:
                    raise _too_large(f"more than {MAX_COMBINATIONS} for the class of "
                                     + ", ".join(f"`input.{'.'.join(p)}`" for p in self.cls.paths[:3]))
                return
            path = self.scalars[i]
            options: list[Any] = [c for c in consts if self.allowed(path, c)]
            if path in self.objects:
                options.append(_OBJECT)
            if path not in self.types:  # no model fixes it: it may be missing or mistyped
                options.append(ABSENT)
                if self.patterns:  # string tests fail on other types, not only on strings
                    options.append(self.mistyped)
            for v in options:
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

    def _related(self, results: list[dict[Path, Any]]) -> list[dict[Path, Any]]:
        """Pairs of values for the two paths a relation reads (`policydiff.relations`)."""
        from policydiff import relations

        pairs = {(a.path, a.other) for a in self.relations}
        first = self.relations[0]
        if len(pairs) != 1 or set(self.scalars) != set(next(iter(pairs))) or self.collections:
            self.unproved.append(f"{first.where}: {first.construct} relates two values of a class of "
                                 "more input values (not modelled)")
            return []
        ((p, q),) = pairs
        known = [(r[p], r[q]) for r in results
                 if r.get(p, ABSENT) not in (ABSENT, _OBJECT) and r.get(q, ABSENT) not in (ABSENT, _OBJECT)]
        domains = (set(_DOMAINS_OF.get(self.types.get(p), _ALL_DOMAINS)),
                   set(_DOMAINS_OF.get(self.types.get(q), _ALL_DOMAINS)))
        extra, why = relations.pairs_for(self.unary, self.relations, self.patterns, matches,
                                         list(self.cls.constants), domains, known)
        self.unproved += [w for w in why if w not in self.unproved]
        return [{p: a, q: b} for a, b in extra if self.allowed(p, a) and self.allowed(q, b)]

    def _collections(self, current: dict[Path, Any], fresh: list[_Fresh], out: list) -> None:
        if not self.collections:
            out.append(dict(current))
            return
        pool = list(self.cls.constants) + self.fixed + [f.value for f in fresh]
        per_collection = []
        for c in self.collections:
            elem = c + (ELEM,)
            members = [v for v in pool if self.allowed(elem, v)]
            choices: list[Any] = [] if c in self.types else [ABSENT]
            extras: list[Any] = [None]
            if c in self.whole:  # elements equal to no value of the class matter
                extras += [v for v in (_Fresh(t, len(fresh)).value for t in self.templates)
                           if self.allowed(elem, v)]
            for subset in self._subsets(c, members):
                for extra in extras:
                    choices.append(list(subset) + ([extra] if extra is not None else []))
            per_collection.append(choices)
        for combo in itertools.product(*per_collection):
            a = dict(current)
            for c, items in zip(self.collections, combo):
                a[c] = items
            out.append(a)

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
        if isinstance(value, dict):
            return "(object)"
        if value is ABSENT:
            return "(absent)"
        if _ckey(value) in self.constants:  # labelled as its cell is (1.0 in the cell of 1)
            return _label(self.constants[_ckey(value)])
        if self.atoms:
            same = [v for v in self.fixed if _ckey(v) == _ckey(value)]
            if same:
                return _label(same[0])
        sig = self.signature(value)
        label = next((t.label for t in self.templates if t.sig == sig), None)
        if label is None:
            label = next((v for v in self.fixed if self.signature(v) == sig), OTHER)
        return label

    def label(self, value: Any) -> Any:
        """The class of one value: itself if a constant, else its pattern signature."""
        ck = (value.__class__, value)  # True == 1, yet they are different values
        try:
            return self._labels[ck]
        except KeyError:
            pass
        except TypeError:  # unhashable: a list or an object
            return ("x", type(value).__name__)
        k = _ckey(value)
        if k in self.constants or self.relations:  # related values: each its own class
            lab: Any = ("c", k)
        else:
            lab = ("f", self.signature(value), type(value).__name__)
        if len(self._labels) < 100_000:
            self._labels[ck] = lab
        return lab


def _ckey(v: Any) -> Any:
    """What a constant is equal to as OPA compares: numbers by value (1 == 1.0), never
    a boolean with a number (True == 1 in Python)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return ("number", v)
    return (type(v).__name__, v) if isinstance(v, (bool, str, type(None))) else ("x", repr(v))


# ---------------------------------------------------------------------------- space


class Space:
    """The classes of every input path both policies read, and the cells they form."""

    def __init__(self, analysis: Analysis, dims: Dimensions = RUNBOOK):
        self.dims = dims
        self.incomplete = list(analysis.incomplete)
        info = {p: c for c in analysis.classes for p in c.paths}
        read = set(info)
        if dims.runbook:
            # The request model always has every field, read or not.
            read |= set(_RUNBOOK_TYPES)
            self.types = dict(_RUNBOOK_TYPES)
        else:
            self.types = {}
        self.read = read
        self._analysed = {p for c in analysis.classes for p in c.paths}
        # read by a policy, but not in the request model: split into classes like any
        # other path (absent and mistyped among them), and named in the report
        self.outside_model: list[Path] = []
        if dims.runbook:
            model_parents = {p[:i] for p in _RUNBOOK_TYPES for i in range(len(p))}
            self.outside_model = sorted(p for p in self._analysed
                                        if p not in _RUNBOOK_TYPES and p not in model_parents)
        # The relation's ingredients must meet in one class each so the relation can
        # be realised by construction.
        groups: list[tuple[Path, ...]] = []
        if dims.has_relation and self._reads_relation():
            groups = [(dims.subject_enterprise, dims.resource_enterprise),
                      (dims.resource_team, dims.subject_teams + (ELEM,))]
        if groups:  # a team list names teams: null is never among them
            self.types.setdefault(dims.subject_teams + (ELEM,), "x")
        merged = self._merge(analysis, groups)
        self.classes: list[ClassSpace] = []
        self.class_of: dict[Path, ClassSpace] = {}
        all_paths = set(read) | {p for g in groups for p in g}
        parents = {p[:i] for p in all_paths for i in range(len(p))}
        for cls in merged:
            scalars, collections, objects = [], [], set()
            for p in cls.paths:
                if p and p[-1] == ELEM:
                    collections.append(p[:-1])
                elif p not in parents:
                    scalars.append(p)
                elif len(cls.paths) > 1 or cls.constants or cls.patterns or cls.atoms:
                    scalars.append(p)  # read as a value and as an object
                    objects.add(p)
            scalars = [p for p in scalars if p]  # the input itself is an object
            if not scalars and not collections:
                continue
            whole = {c for c in collections if c not in info or info[c].whole}
            cs = ClassSpace(cls, sorted(scalars), sorted(collections), objects, self.types, whole)
            self.incomplete += cs.unproved
            self.classes.append(cs)
            for p in cls.paths:
                self.class_of[p] = cs
        for p in (dims.role, dims.action, dims.tenant if dims.symbolic_tenant else None):
            if p is not None and p in self.class_of and p not in self.class_of[p].scalars:
                self.incomplete.append(f"dimension `input.{'.'.join(p)}` is not a single value")

    def _reads_relation(self) -> bool:
        return self.dims.runbook or any(p in self.read for p in self.dims.relation_paths
                                        if p is not None)

    def _merge(self, analysis: Analysis, groups: list[tuple[Path, ...]]) -> list[InputClass]:
        classes = {i: c for i, c in enumerate(analysis.classes)}
        owner = {p: i for i, c in classes.items() for p in c.paths}
        nxt = len(classes)
        for g in groups:
            for p in g:
                if p not in owner:
                    classes[nxt] = InputClass(paths=(p,))
                    owner[p] = nxt
                    nxt += 1
        if self.dims.runbook:
            for p in _RUNBOOK_TYPES:
                if p not in owner:
                    classes[nxt] = InputClass(paths=(p,))
                    owner[p] = nxt
                    nxt += 1
        for g in groups:
            ids = sorted({owner[p] for p in g})
            if len(ids) < 2:
                continue
            parts = [classes.pop(i) for i in ids]
            paths = tuple(sorted({p for c in parts for p in c.paths}))
            consts = tuple({_ckey(c): c for part in parts for c in part.constants}.values())
            pats = tuple(sorted({p for part in parts for p in part.patterns}))
            tests = tuple({a.key: a for part in parts for a in part.atoms}.values())
            classes[ids[0]] = InputClass(paths=paths, constants=consts, patterns=pats, atoms=tests)
            for p in paths:
                owner[p] = ids[0]
        team = self.dims.resource_team
        if groups and team is not None:  # a null team is the `enterprise` relation
            i = owner[team]
            c = classes[i]
            if not any(v is None for v in c.constants):
                classes[i] = msgspec.structs.replace(c, constants=c.constants + (None,))
        return list(classes.values())

    # ---- cells

    def representatives(self) -> Iterator[tuple[tuple[str, str, str, str], dict]]:
        """Every class combination as (cell, representative input), relation realised."""
        per_class = [c.assignments() for c in self.classes]
        for c in self.classes:  # collections too large for every subset are searched only
            self.incomplete += [r for r in c.unproved if r not in self.incomplete]
        total = 1
        for a in per_class:
            total *= max(1, len(a))
        if total > MAX_COMBINATIONS:
            raise _too_large(f"{total} class combinations exceed the limit of {MAX_COMBINATIONS}")
        # Only a path read both as a value and as an object builds the same input twice.
        seen: set[bytes] | None = set() if any(c.objects for c in self.classes) else None
        for combo in itertools.product(*per_class):
            values: dict[Path, Any] = {}
            for part in combo:
                values.update(part)
            inp = build_input(values)
            key = self.cell_of(inp)
            if key is None:
                continue
            if seen is not None:
                encoded = msgspec.json.encode(inp, order="sorted")
                if encoded in seen:
                    continue
                seen.add(encoded)
            yield key, inp

    def cell_of(self, inp: Mapping, *, concrete: bool = False) -> tuple[str, str, str, str] | None:
        """The symbolic cell of any input: the class labels of its dimensions, and its
        relation; None when no tenancy could realise it. `concrete`: the cell as a
        tenancy realises it (compare with `--tenancy`/`--dsn`, replay): the dimensions'
        own values, the tenant being the subject's enterprise."""
        rel = self.relation(inp)
        if rel is None:
            return None
        d = self.dims
        if concrete:
            tenant, role, action = (get(inp, p) for p in (d.tenant, d.role, d.action))
            return (ANY if tenant is None else str(tenant), ANY if role is None else str(role),
                    ANY if action is None else str(action), rel)
        tenant = self._class_label(d.tenant, inp) if d.symbolic_tenant and d.tenant else ANY
        role = self._class_label(d.role, inp) if d.role and d.role in self.read else ANY
        action = self._class_label(d.action, inp) if d.action and d.action in self.read else ANY
        return (tenant, role, action, rel)

    def _class_label(self, path: Path, inp: Mapping) -> str:
        v = get(inp, path)
        cs = self.class_of.get(path)
        return cs.describe(v) if cs is not None else _label(v)

    def relation(self, inp: Mapping) -> str | None:
        """The relation a built input realises (team ids need not be unique across
        enterprises: a subject's team may share its id with another enterprise's)."""
        d = self.dims
        if not (d.has_relation and self._reads_relation()):
            return ANY
        se, re_ = get(inp, d.subject_enterprise), get(inp, d.resource_enterprise)
        team, teams = get(inp, d.resource_team), get(inp, d.subject_teams)
        teams = teams if isinstance(teams, list) else []
        if se != re_:  # team ids need not be unique across enterprises (docs/design.md)
            return "other_enterprise"
        if team is None:
            return "enterprise"
        return "own_team" if team in teams else "other_team"

    def attributes_of(self, inp: Mapping) -> dict[str, str]:
        """The class of every path of `inp` that is not a dimension, as reports show it."""
        d = self.dims
        skip = {d.role, d.action, d.tenant, *d.relation_paths}
        read = self.analysis_paths
        out = {}
        for cs in self.classes:
            for p in cs.scalars:
                if p not in skip and p in read:
                    out["input." + ".".join(p)] = cs.describe(get(inp, p))
        return out

    @functools.cached_property
    def analysis_paths(self) -> frozenset[Path]:
        return frozenset(self._analysed)


def _too_large(why: str) -> InputError:
    return InputError.at("matrix_too_large", f"the symbolic matrix is too large: {why}",
                         help="compare with --tenancy, or split the policies' comparisons")


def _label(v: Any) -> str:
    if v is _OBJECT:
        return "(object)"
    if isinstance(v, str):
        return v
    return json.dumps(v)


def get(doc: Any, path: Path | None) -> Any:
    if path is None:
        return None
    for k in path:
        # a plain dict skips the slower abstract-class check (replay calls this per request)
        if (type(doc) is not dict and not isinstance(doc, Mapping)) or k not in doc:
            return None
        doc = doc[k]
    return doc


def build_input(values: Mapping[Path, Any]) -> dict:
    """The input document with each path at its value; paths under a path that holds
    a plain value (not `_OBJECT`) are left out."""
    root: dict = {}
    for path in sorted(values, key=len):
        v = values[path]
        node = root
        ok = True
        for k in path[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                ok = False
                break
            node = nxt
        if not ok:
            continue
        if v is ABSENT:
            continue
        if v is _OBJECT:
            node.setdefault(path[-1], {})
        else:
            node[path[-1]] = list(v) if isinstance(v, list) else v
    return root
