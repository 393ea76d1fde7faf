"""Hypothesis strategies: requests in the runbook's model, and small Rego policies.

`requests()` draws `input` documents shaped as docs/design.md describes, over a few
enterprises and teams so that every relation (own team, other team, enterprise-level,
other enterprise) comes up often. `policies()` draws the source text of one small
module in package `gen` (sometimes two: its helpers in `gen.lib`, imported) from a
grammar of rule and literal templates inside policydiff's subset, with a few literals
outside it (`with`, rarer builtins) that policydiff must evaluate as OPA does or refuse
as `unsupported`. `policy_inputs()` draws inputs shaped like what those modules read,
sometimes malformed (a field missing, null or of another type).

Generated modules are meant to be *valid* Rego: every template binds its own fresh
variables, so an engine that rejects one has found a bug or a gap, not a typo. Some
fail at run time on purpose (two complete definitions that conflict, builtins given
the wrong type), so that failing like OPA is checked as well as answering like it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

ENTERPRISES = {
    "ent-acme": ("acme-core", "acme-web", "acme-data"),
    "ent-globex": ("globex-ops", "globex-web"),
    "ent-initech": ("initech-tps",),
}
ROLES = ("admin", "team_admin", "developer", "viewer", "system")
ACTIONS = (
    "project:read",
    "project:write",
    "project:delete",
    "project:export",
    "billing:read",
    "billing:write",
    "team:manage",
    "member:invite",
    "audit:read",
    "settings:write",
)
KINDS = ("project", "billing_account", "team", "audit_log", "enterprise")


# --------------------------------------------------------------------------- requests


@st.composite
def requests(draw, roles=ROLES + ("guest",), actions=ACTIONS + ("deploy:run",)) -> dict:
    """One request: a subject of some enterprise, an action, a resource anywhere."""
    ent = draw(st.sampled_from(sorted(ENTERPRISES)))
    teams = draw(st.lists(st.sampled_from(ENTERPRISES[ent]), unique=True, max_size=3))
    res_ent = draw(st.sampled_from(sorted(ENTERPRISES)) | st.just(ent))
    res_team = draw(st.none() | st.sampled_from(ENTERPRISES[res_ent]))
    n = draw(st.integers(0, 999))
    return {
        "subject": {
            "id": f"u-{n}",
            "enterprise": ent,
            "role": draw(st.sampled_from(roles)),
            "teams": teams,
        },
        "action": draw(st.sampled_from(actions)),
        "resource": {
            "id": f"r-{n}",
            "kind": draw(st.sampled_from(KINDS)),
            "enterprise": res_ent,
            "team": res_team,
        },
    }


def relation(req: dict) -> str:
    """Where the resource of `req` stands relative to its subject (docs/design.md)."""
    s, r = req["subject"], req["resource"]
    if r["enterprise"] != s["enterprise"]:
        return "other_enterprise"
    if r["team"] is None:
        return "enterprise"
    return "own_team" if r["team"] in s["teams"] else "other_team"


# ------------------------------------------------------------------ generated policies

# Constants the generated policies compare with; drawn from the same pools as the
# inputs so that comparisons come out both ways.
STRINGS = ("admin", "viewer", "project:read", "billing:write", "acme-web", "globex-ops", "project", "x")
TEAM_PREFIXES = ("acme", "globex", "ini", "zzz")
STRING_PATHS = (
    "input.subject.role",
    "input.action",
    "input.resource.kind",
    "input.resource.team",
    "input.subject.enterprise",
    "input.missing",
)


@dataclass
class _Module:
    """Names defined so far, so later rules only refer to earlier ones (no recursion)."""

    booleans: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    functions_of_value: list[str] = field(default_factory=list)
    computed: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    fresh: int = 0

    def var(self, stem: str) -> str:
        self.fresh += 1
        return f"{stem}{self.fresh}"


def _lit(s: str) -> str:
    return json.dumps(s)


def _str(draw) -> str:
    return _lit(draw(st.sampled_from(STRINGS)))


@st.composite
def _literal(draw, mod: _Module) -> str:
    """One body literal (possibly several lines binding a fresh variable)."""
    path = draw(st.sampled_from(STRING_PATHS))
    choices = [
        "eq", "neq", "num", "in_set", "startswith", "split", "count", "some_in",
        "every", "team_in", "lower", "object_get", "compr", "sprintf", "concat",
        "set_ops", "not_eq", "arith", "index", "some_decl", "destructure", "some_kv",
        "obj_compr", "unify", "data_grant", "data_every", "builtin", "with",
    ]
    if mod.booleans:
        choices += ["helper", "not_helper", "helper"]
    if mod.sets:
        choices += ["set_member", "not_set_member"]
    if mod.functions:
        choices += ["call"]
    if mod.values:
        choices += ["value_eq"]
    if mod.functions_of_value:
        choices += ["value_call"]
    kind = draw(st.sampled_from(choices))
    if kind in ("builtin", "with") and draw(st.integers(0, 3)):
        kind = "eq"  # rarer: one such literal makes policydiff refuse the whole module
    match kind:
        case "eq":
            return f"{path} == {_str(draw)}"
        case "neq":
            return f"{path} != {_str(draw)}"
        case "not_eq":
            return f"not {path} == {_str(draw)}"
        case "num":
            op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
            return f"input.n {op} {draw(st.integers(-2, 12))}"
        case "in_set":
            items = draw(st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3, unique=True))
            if draw(st.booleans()):
                return f"not {path} in {{{', '.join(map(_lit, items))}}}"
            return f"{path} in {{{', '.join(map(_lit, items))}}}"
        case "startswith":
            fn = draw(st.sampled_from(["startswith", "endswith", "contains"]))
            arg = draw(st.sampled_from(["project", ":read", "acme", "e", ":"]))
            return f"{fn}({path}, {_lit(arg)})"
        case "split":
            v = mod.var("parts")
            return f"{v} := split(input.action, \":\")\n\t{v}[0] == {_lit(draw(st.sampled_from(['project', 'billing', 'team'])))}"
        case "count":
            op = draw(st.sampled_from(["<", ">", "==", ">="]))
            coll = draw(st.sampled_from(["input.subject.teams", "input.tags"]))
            return f"count({coll}) {op} {draw(st.integers(0, 3))}"
        case "some_in":
            v = mod.var("t")
            pre = draw(st.sampled_from(TEAM_PREFIXES))
            return f"some {v} in input.subject.teams\n\tstartswith({v}, {_lit(pre)})"
        case "every":
            v = mod.var("t")
            pre = draw(st.sampled_from(TEAM_PREFIXES))
            return f"every {v} in input.subject.teams {{\n\t\tstartswith({v}, {_lit(pre)})\n\t}}"
        case "team_in":
            return "input.resource.team in input.subject.teams"
        case "lower":
            v = mod.var("low")
            fn = draw(st.sampled_from(["lower", "upper"]))
            return f"{v} := {fn}({path})\n\t{v} == {_lit(draw(st.sampled_from(['ADMIN', 'admin', 'project'])))}"
        case "object_get":
            key = draw(st.sampled_from(["team", "kind", "owner"]))
            default = draw(st.sampled_from(["none", "project"]))
            return f"object.get(input.resource, {_lit(key)}, {_lit(default)}) == {_str(draw)}"
        case "compr":
            v = mod.var("t")
            pre = draw(st.sampled_from(TEAM_PREFIXES))
            op = draw(st.sampled_from([">", "=="]))
            form = draw(st.sampled_from(["[{v} | some {v} in input.subject.teams; startswith({v}, {p})]",
                                         "{{{v} | some {v} in input.tags; {v} != {p}}}"]))
            return f"count({form.format(v=v, p=_lit(pre))}) {op} {draw(st.integers(0, 2))}"
        case "sprintf":
            return f"sprintf(\"%s/%s\", [input.subject.enterprise, input.resource.kind]) == {_lit(draw(st.sampled_from(['ent-acme/project', 'ent-globex/team'])))}"
        case "concat":
            return "concat(\":\", [input.resource.kind, \"read\"]) == input.action"
        case "set_ops":
            op = draw(st.sampled_from(["&", "|", "-"]))
            items = draw(st.lists(st.sampled_from(["acme-web", "acme-core", "globex-ops"]), max_size=2, unique=True))
            lit = "{" + ", ".join(map(_lit, items)) + "}" if items else "set()"
            n = draw(st.integers(0, 2))
            return f"count({{t | some t in input.subject.teams}} {op} {lit}) > {n}"
        case "arith":
            form = draw(st.sampled_from(["input.n + {k} > {m}", "input.n % {k} == 0", "input.n * 2 - {k} < {m}"]))
            return form.format(k=draw(st.integers(1, 3)), m=draw(st.integers(0, 12)))
        case "index":
            return f"input.subject.teams[{draw(st.integers(0, 1))}] == {_lit(draw(st.sampled_from(['acme-web', 'acme-core', 'globex-ops'])))}"
        case "some_decl":
            i = mod.var("i")
            team = draw(st.sampled_from(["acme-web", "acme-data", "globex-web"]))
            return f"some {i}\n\tinput.subject.teams[{i}] == {_lit(team)}"
        case "destructure":
            a, b = mod.var("dom"), mod.var("verb")
            verb = draw(st.sampled_from(["read", "write", "manage"]))
            return f"[{a}, {b}] := split(input.action, \":\")\n\t{b} == {_lit(verb)}\n\t{a} != \"\""
        case "some_kv":
            k, v = mod.var("k"), mod.var("v")
            key = draw(st.sampled_from(["kind", "team", "owner"]))
            return f"some {k}, {v} in input.resource\n\t{k} == {_lit(key)}\n\t{v} == {_str(draw)}"
        case "obj_compr":
            k, v = mod.var("k"), mod.var("v")
            return f"count({{{k}: {v} | some {k}, {v} in input.resource; {v} != null}}) > {draw(st.integers(2, 4))}"
        case "unify":
            return f"{path} = {_str(draw)}"
        case "data_grant":
            return "input.action in data.grants[input.subject.role]"
        case "data_every":
            v = mod.var("grant")
            return f"every {v} in data.grants[input.subject.role] {{\n\t\tstartswith({v}, \"project:\")\n\t}}"
        case "builtin":
            # Builtins beyond docs/design.md's common list: policydiff either evaluates them
            # as OPA does or refuses them as `unsupported`.
            return draw(st.sampled_from(EXTRA_BUILTINS)).replace("PATH", path)
        case "with":
            # `with` is outside the subset: policydiff must refuse it, never ignore it.
            if not mod.booleans:
                return "true with input.subject.role as \"admin\""
            return f"{draw(st.sampled_from(mod.booleans))} with input.subject.role as {_str(draw)}"
        case "helper":
            return draw(st.sampled_from(mod.booleans))
        case "not_helper":
            return f"not {draw(st.sampled_from(mod.booleans))}"
        case "set_member":
            return f"{_str(draw)} in {draw(st.sampled_from(mod.sets))}"
        case "not_set_member":
            return f"not {path} in {draw(st.sampled_from(mod.sets))}"
        case "call":
            return f"{draw(st.sampled_from(mod.functions))}({path})"
        case "value_call":
            f = draw(st.sampled_from(mod.functions_of_value))
            return f"{f}({path}) == {_lit(draw(st.sampled_from(['project:read:z', 'none', 'admin/z'])))}"
        case "value_eq":
            return f"{draw(st.sampled_from(mod.values))} == {json.dumps(draw(st.sampled_from(['a', 'b', 'z', 1])))}"
    raise AssertionError(kind)


@st.composite
def _body(draw, mod: _Module, max_size: int = 3) -> str:
    lits = draw(st.lists(_literal(mod), min_size=1, max_size=max_size))
    return "\n\t".join(lits)


@st.composite
def _rule(draw, mod: _Module) -> None:
    """Append one helper rule to `mod`: a boolean, a partial set, a function or a
    complete value with an `else` chain."""
    kind = draw(st.sampled_from(
        ["boolean", "set", "function", "value", "object", "value_function", "computed", "conflict"]
    ))
    match kind:
        case "boolean":
            name = mod.var("h")
            for _ in range(draw(st.integers(1, 2))):
                mod.rules.append(f"{name} if {{\n\t{draw(_body(mod))}\n}}")
            if draw(st.booleans()):
                mod.rules.append(f"default {name} := false")
            mod.booleans.append(name)
        case "set":
            name = mod.var("s")
            for _ in range(draw(st.integers(1, 2))):
                form = draw(st.sampled_from(["team", "const", "path"]))
                if form == "team":
                    v = mod.var("t")
                    mod.rules.append(
                        f"{name} contains {v} if {{\n\tsome {v} in input.subject.teams\n\t{draw(_body(mod, 1))}\n}}"
                    )
                elif form == "const":
                    mod.rules.append(f"{name} contains {_str(draw)} if {{\n\t{draw(_body(mod))}\n}}")
                else:
                    path = draw(st.sampled_from(STRING_PATHS))
                    mod.rules.append(f"{name} contains {path} if {{\n\t{draw(_body(mod, 2))}\n}}")
            mod.sets.append(name)
        case "function":
            name = mod.var("f")
            arg = draw(st.sampled_from(STRINGS))
            pre = draw(st.sampled_from(["project", "acme", "admin"]))
            mod.rules.append(f"{name}(x) if x == {_lit(arg)}")
            mod.rules.append(f"{name}(x) if startswith(x, {_lit(pre)})")
            mod.functions.append(name)
        case "object":
            name, t = mod.var("obj"), mod.var("t")
            mod.rules.append(
                f"{name}[{t}] := count({t}) if {{\n\tsome {t} in input.subject.teams\n\t{draw(_body(mod, 1))}\n}}"
            )
            mod.values.append(f"{name}[input.resource.team]")
        case "value_function":
            name = mod.var("g")
            sep = draw(st.sampled_from(["/", ":"]))
            mod.rules.append(f"{name}(x) := y if {{\n\tis_string(x)\n\ty := concat({_lit(sep)}, [x, \"z\"])\n}} else := \"none\"")
            mod.functions_of_value.append(name)
        case "computed":
            name = mod.var("c")
            mod.rules.append(f"{name} := {draw(st.sampled_from(COMPUTED))}")
            mod.computed.append(name)
        case "conflict":
            # Two complete definitions: OPA fails with a conflict when both hold.
            name = mod.var("val")
            for value in draw(st.lists(st.sampled_from(["a", "b"]), min_size=2, max_size=2)):
                mod.rules.append(f"{name} := {_lit(value)} if {{\n\t{draw(_body(mod, 1))}\n}}")
            mod.values.append(name)
        case "value":
            name = mod.var("val")  # not `v1`: rego-cpp confuses it with `rego.v1`
            chain = f"{name} := \"a\" if {{\n\t{draw(_body(mod, 2))}\n}}"
            if draw(st.booleans()):
                chain += f" else := \"b\" if {{\n\t{draw(_body(mod, 2))}\n}}"
            if draw(st.booleans()):
                chain += " else := \"c\""
            mod.rules.append(chain)
            if draw(st.booleans()):
                mod.rules.append(f"default {name} := \"z\"")
            mod.values.append(name)


# Value expressions for computed rules: builtins whose output formats, orders or types
# engines tend to get subtly different.
COMPUTED = (
    'sprintf("%v/%d", [input.subject.teams, count(input.tags)])',
    'sprintf("%v-%v", [input.n, input.resource.team])',
    'sprintf("%v", [input.n / 4])',
    'sprintf("%d", [count(input.tags)])',
    'sprintf("%v", [{"n": input.n, "tags": {t | some t in input.tags}}])',
    'concat(",", {t | some t in input.tags})',
    'concat("-", input.subject.teams)',
    "input.n / 4",
    "input.n * 1.5",
    "input.n % 3",
    "input.n - 10",
    '{t | some t in input.subject.teams} | {"x"}',
    "{t | some t in input.subject.teams} & {t | some t in input.tags}",
    "{t | some t in input.tags} - {\"x\"}",
    '[x | some x in input.tags; x != "x"]',
    "{k: v | some k, v in input.resource; v != null}",
    "graph.reachable(data.graph, {input.subject.role})",
    "graph.reachable(data.graph, {r | some r, _ in data.graph; r == input.subject.role})",
    'graph.reachable(data.graph, {"team_admin", input.subject.role} & {"viewer", "system"})',
    'object.get(input, ["resource", "team"], "none")',
    'object.get(input.resource, "owner", {"default": true})',
    'split(input.action, ":")',
    'upper(concat("-", input.subject.teams))',
    "count(input.subject.teams) + count(input.tags)",
    "input.tags[count(input.tags) - 1]",
    '{"role": input.subject.role, "n": input.n}',
    '[input.n, input.subject.role] == [4, "admin"]',
    '{input.subject.role: count(input.subject.teams)}',
    "[t | some t in input.subject.teams][0]",
    '{input.n, 1, "1", 1.0, true, null, [1], {"a": 1}}',
    'count({[1, 2], [1, 2.0]})',
    '{"b": 1, "a": [3, 1]} == {"a": [3, 1], "b": 1.0}',
)

EXTRA_BUILTINS = (
    'regex.match("^proj[a-z]*:", PATH)',
    'glob.match("project:*", [":"], input.action)',
    'net.cidr_contains("10.0.0.0/8", "10.1.2.3")',
    'strings.reverse(PATH) != ""',
    'base64.encode(PATH) != ""',
    'json.marshal([PATH, input.n]) != ""',
    'trim_prefix(PATH, "project:") == "read"',
    'indexof(PATH, ":") > 0',
    'substring(PATH, 0, 3) == "pro"',
    'replace(PATH, "-", ":") == "acme:web"',
    'to_number(input.n) > 5',
    'array.concat(input.tags, ["z"])[0] == "acme"',
    'is_string(PATH)',
    'object.keys(input.resource) == {"id", "kind", "enterprise", "team"}',
    'sort(input.tags)[0] == "acme"',
    'max([input.n, 3]) == 3',
    'abs(input.n - 5) < 2',
    'time.now_ns() > 0',
)

# The data document every generated policy is evaluated with (`data.grants`).
DATA = {
    "grants": {
        "admin": ["project:read", "project:write", "billing:write"],
        "viewer": ["project:read"],
        "developer": ["project:read", "project:write", "project:export"],
        "system": [],
    },
    "graph": {
        "admin": ["team_admin"],
        "team_admin": ["developer"],
        "developer": ["viewer"],
        "viewer": [],
        "system": [],
    },
}


@dataclass(frozen=True)
class GeneratedPolicy:
    modules: dict[str, str]  # file name -> source
    refs: tuple[str, ...]  # every document worth comparing, `data.gen.allow` first

    @property
    def source(self) -> str:
        return "\n".join(self.modules.values())


@st.composite
def policies(draw) -> GeneratedPolicy:
    """A small module `package gen` with helpers and an `allow` decision; sometimes the
    helpers live in a second module, `package gen.lib`, imported by the first."""
    mod = _Module()
    for _ in range(draw(st.integers(0, 4))):
        draw(_rule(mod))
    allow = [f"allow if {{\n\t{draw(_body(mod))}\n}}" for _ in range(draw(st.integers(1, 3)))]
    header = ["package gen", "", "import rego.v1", ""]
    if draw(st.booleans()):
        header.append("default allow := false\n")
    names = mod.booleans + mod.sets + [v.split("[")[0] for v in mod.values] + mod.computed
    helpers = names + mod.functions + mod.functions_of_value
    if mod.rules and draw(st.integers(0, 3)) == 0:
        qualify = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, helpers)) + r")(?![\w])")
        allow = [qualify.sub(r"lib.\1", rule) for rule in allow]
        lib = "\n".join(["package gen.lib", "", "import rego.v1", ""] + mod.rules) + "\n"
        main = "\n".join(header[:3] + ["import data.gen.lib", ""] + header[3:] + allow) + "\n"
        refs = ("data.gen.allow",) + tuple(f"data.gen.lib.{n}" for n in names)
        return GeneratedPolicy(modules={"gen.rego": main, "lib.rego": lib}, refs=refs)
    source = "\n".join(header + mod.rules + allow) + "\n"
    refs = ("data.gen.allow",) + tuple(f"data.gen.{n}" for n in names)
    return GeneratedPolicy(modules={"gen.rego": source}, refs=refs)


@st.composite
def policy_inputs(draw) -> dict:
    """An input for generated policies: a request plus the fields they also read
    (`input.n`, `input.tags`); sometimes a field is missing or has another type."""
    req = draw(requests())
    req["n"] = draw(st.integers(-3, 15))
    req["tags"] = draw(st.lists(st.sampled_from(["acme", "globex", "x"]), max_size=3))
    mutation = draw(st.sampled_from(
        ["none"] * 6 + ["no_teams", "no_team_key", "n_string", "teams_string", "resource_null",
                        "role_number", "no_action", "n_float"]
    ))
    match mutation:
        case "no_teams":
            del req["subject"]["teams"]
        case "no_team_key":
            del req["resource"]["team"]
        case "n_string":
            req["n"] = "7"
        case "teams_string":
            req["subject"]["teams"] = "acme-web"
        case "resource_null":
            req["resource"] = None
        case "role_number":
            req["subject"]["role"] = 3
        case "no_action":
            del req["action"]
        case "n_float":
            # not integral ones such as 7.0 or 1e20: open departures, pinned in test_differential
            req["n"] = draw(st.sampled_from([2.5, -0.5, 0.25]))
    return req


# ------------------------------------------------- policy pairs of another input shape
#
# `api_policy_pairs()` draws two versions of one small module over an HTTP-API-shaped
# input (method, path array, user, resource with nested objects), v2 a mutation of v1,
# and `API_SPACE` names the finite values brute force tries per input path: the
# policies' own constants, near misses, absent fields and values of the wrong type. The
# literals exercise what a class space must capture beyond "path against constant":
# path-to-path equality and ordering, array patterns binding a variable that is then
# compared or looked up in data, `import input as x` aliases, string builtins over
# input, nested objects, `in` over input arrays.

API_DATA = {"managers": {"alice": ["bob"], "bob": []}, "tenants": {"t1": {"region": "eu"}, "t2": {"region": "us"}}}

ABSENT = "$absent"
API_SPACE: dict[str, list] = {
    "method": ["GET", "POST", ABSENT, 1],
    "path": [["finance", "salary", "alice"], ["finance", "salary", "bob"], ["finance", "salary"],
             ["finance", "bonus", "alice"], "finance/salary/alice", ABSENT],
    "user.id": ["alice", "bob", "al", ABSENT, 7],
    "user.groups": [["admin"], ["dev", "admin"], [], "admin", ABSENT],
    "resource.owner": ["alice", "bob", "alice2", {"id": "alice"}, ABSENT],
    "resource.tenant": ["t1", "t2", ABSENT, 1],
    "resource.meta.tenant": ["t1", "t2", ABSENT, ["t1"]],
    "resource.level": [2, 2.5, 3, "3", ABSENT],
    "resource.editors": [["alice"], ["bob", "alice"], [], "alice", ABSENT],
}

# (template, the API_SPACE paths it reads); `U` is a fresh variable.
_API_LITERALS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('input.method == "GET"', ("method",)),
    ('input.method != "POST"', ("method",)),
    ("input.resource.meta.tenant == input.resource.tenant", ("resource.meta.tenant", "resource.tenant")),
    ("input.resource.meta.tenant != input.resource.tenant", ("resource.meta.tenant", "resource.tenant")),
    ('input.resource.meta.tenant == "t1"', ("resource.meta.tenant",)),
    ("input.resource.owner == input.user.id", ("resource.owner", "user.id")),
    ("input.resource.owner < input.user.id", ("resource.owner", "user.id")),
    ('input.path = ["finance", "salary", U]\n\tU == input.user.id', ("path", "user.id")),
    ('input.path = ["finance", "salary", U]\n\tinput.user.id in data.managers[U]', ("path", "user.id")),
    ('input.path = ["finance", _, U]\n\tU != input.user.id', ("path", "user.id")),
    ('input.path[0] == "finance"', ("path",)),
    ("startswith(input.resource.owner, input.user.id)", ("resource.owner", "user.id")),
    ("not endswith(input.resource.owner, input.user.id)", ("resource.owner", "user.id")),
    ("input.resource.level >= input.resource.tenant", ("resource.level", "resource.tenant")),
    ('endswith(input.resource.owner, "2")', ("resource.owner",)),
    ('lower(input.user.id) == "alice"', ("user.id",)),
    ('concat("/", input.path) == "finance/salary/alice"', ("path",)),
    ('sprintf("%v", [input.user.id]) == input.resource.owner', ("user.id", "resource.owner")),
    ("input.user.id in input.resource.editors", ("user.id", "resource.editors")),
    ("not input.user.id in input.resource.editors", ("user.id", "resource.editors")),
    ("input.resource.editors[_] = input.user.id", ("resource.editors", "user.id")),
    ('"admin" in input.user.groups', ("user.groups",)),
    ('some U in input.user.groups\n\tU == "admin"', ("user.groups",)),
    ("count(input.user.groups) > 1", ("user.groups",)),
    ("input.resource.level > 2", ("resource.level",)),
    ("input.resource.level >= 3", ("resource.level",)),
    ('input.user.id <= "al"', ("user.id",)),
    ('data.tenants[input.resource.tenant].region == "eu"', ("resource.tenant",)),
    # string builtins on one input value, numbers against non-integer boundaries
    # (issue 14: decided by `policydiff.solver`, or unproved and blocking)
    ('trim_prefix(input.resource.owner, "ali") == "ce"', ("resource.owner",)),
    ('trim(input.user.id, "a") == "l"', ("user.id",)),
    ('regex.match("^a[lb]", input.user.id)', ("user.id",)),
    ('substring(input.resource.owner, 0, 3) == "ali"', ("resource.owner",)),
    ('indexof(input.user.id, "l") == 1', ("user.id",)),
    ('glob.match("al*", [], input.user.id)', ("user.id",)),
    ('contains(input.resource.owner, "ice")', ("resource.owner",)),
    ('split(input.resource.owner, "i")[0] == "al"', ("resource.owner",)),
    ('upper(input.user.id) == "BOB"', ("user.id",)),
    ("count(input.resource.owner) > 4", ("resource.owner",)),
    ("input.resource.level > 2.5", ("resource.level",)),
    ("input.resource.level <= 2.5", ("resource.level",)),
    ("input.resource.level + 0.5 >= 3", ("resource.level",)),
    # the same through a local naming the value, which other literals use as well
    ('U := input.user.id\n\tregex.match("^a", U)', ("user.id",)),
    ('U := input.resource.owner\n\tU != "bob"\n\tcount(U) > 4', ("resource.owner",)),
    ("U := input.user.id\n\tinput.resource.owner < U", ("resource.owner", "user.id")),
    # helper rules and functions (`_API_HELPERS`, added to a module that names them):
    # sets tested by key, objects iterated and looked up, rules and functions over input
    ("some U\n\th_granted[U]\n\tinput.method == U", ("method",)),
    ("h_granted[input.method]", ("method",)),
    ("input.method in h_granted", ("method",)),
    ("h_perms[input.user.id][_] == input.method", ("user.id", "method")),
    ("some U, Ums in h_perms\n\tU == input.user.id\n\tinput.method in Ums", ("user.id", "method")),
    ("h_is_owner", ("resource.owner", "user.id")),
    ("not h_is_owner", ("resource.owner", "user.id")),
    ("h_owns(input.user.id)", ("resource.owner", "user.id")),
    ('h_my_groups["admin"]', ("user.groups",)),
    ("h_methods[input.method]", ("method",)),
    ('h_owner_of["t1"] == input.user.id', ("resource.tenant", "resource.owner", "user.id")),
    ('h_tier == "eu"', ("resource.tenant",)),
    ('U := {"admin", "dev"} & {g | some g in input.user.groups}\n\tU["admin"]', ("user.groups",)),
    ('every U in input.user.groups {\n\t\tU != "dev"\n\t}', ("user.groups",)),
    ('object.get(input.resource, "tenant", "none") == "none"', ("resource.tenant",)),
    ('not input.user.id == "alice"', ("user.id",)),
    ("input.method == input.user.id", ("method", "user.id")),
    ("input.resource.level == 3", ("resource.level",)),
    ("input.resource.level != 2", ("resource.level",)),
    ("input.resource.tenant == 1", ("resource.tenant",)),
    ("not input.resource.tenant", ("resource.tenant",)),
    ("input.resource.editors[_] == input.resource.owner", ("resource.editors", "resource.owner")),
    ('U := input.user\n\tU.id == "alice"', ("user.id",)),
    ("data.managers[input.user.id][_] == input.resource.owner", ("user.id", "resource.owner")),
    ("some U, Usubs in data.managers\n\tinput.user.id in Usubs\n\tU == input.resource.owner",
     ("user.id", "resource.owner")),
    # input arrays as tuples of positions: patterns of several lengths, `!=`, constant
    # positions, a function whose parameter is a pattern
    ('input.path = [_, "salary", U]\n\tU == input.resource.owner', ("path", "resource.owner")),
    ('input.path != ["finance", "salary"]', ("path",)),
    ("input.path[2] == input.user.id", ("path", "user.id")),
    ("h_route(input.path)", ("path",)),
)

# Rules a literal above may name, added to the module that does (each once).
_API_HELPERS = {
    "h_granted": 'h_granted contains "GET"\n\nh_granted contains "PUT"',
    "h_perms": 'h_perms := {"alice": ["GET"], "bob": ["POST", "GET"]}',
    "h_route": 'h_route(["finance", _, u]) if u != "bob"',
    "h_is_owner": "h_is_owner if input.resource.owner == input.user.id",
    "h_owns": "h_owns(u) if input.resource.owner == u",
    "h_my_groups": "h_my_groups contains g if some g in input.user.groups",
    "h_owner_of": "h_owner_of[t] := o if {\n\tt := input.resource.tenant\n\to := input.resource.owner\n}",
    "h_methods": 'h_methods := {"GET": true, "POST": false}',
    "h_tier": 'h_tier := "eu" if data.tenants[input.resource.tenant].region == "eu"\nelse := "other"',
}


@dataclass(frozen=True)
class PolicyPair:
    v1: str
    v2: str
    paths: tuple[str, ...]  # the API_SPACE paths either version reads

    def space(self, limit: int = 1000) -> dict[str, list]:
        """API_SPACE on the paths read, each list cut from its end until the product
        is at most `limit` (the first values are the policies' constants)."""
        space = {p: list(API_SPACE[p]) for p in API_SPACE if p in self.paths}
        while _product(space) > limit:
            longest = max(space, key=lambda p: len(space[p]))
            space[longest].pop()
        return space


def _product(space: dict[str, list]) -> int:
    n = 1
    for v in space.values():
        n *= len(v)
    return n


@st.composite
def _api_literal(draw, fresh: list[int]) -> tuple[str, tuple[str, ...]]:
    text, paths = draw(st.sampled_from(_API_LITERALS))
    fresh[0] += 1
    return text.replace("U", f"u{fresh[0]}"), paths


def _aliased(text: str, alias: str | None) -> str:
    """Reads of `input` through the module's alias (`import input as api`, or
    `import input.user as user`)."""
    if alias == "api":
        return re.sub(r"(?<![\w.])input\.", "api.", text)
    if alias == "user":
        return re.sub(r"(?<![\w.])input\.user\.", "user.", text)
    return text


def api_module(rules: list[list[str]], alias: str | None) -> str:
    header = ["package api", "", "import rego.v1", ""]
    if alias == "api":
        header += ["import input as api", ""]
    elif alias == "user":
        header += ["import input.user as user", ""]
    body = [f"allow if {{\n\t{_aliased(chr(10).join(chr(9) + l if i else l for i, l in enumerate(r)), alias)}\n}}"
            for r in rules]
    text = "\n".join(header + ["default allow := false", ""] + body) + "\n"
    helpers = [_aliased(h, alias) for name, h in _API_HELPERS.items() if re.search(rf"\b{name}\b", text)]
    return text + "".join(f"\n{h}\n" for h in helpers)


@st.composite
def api_policy_pairs(draw) -> PolicyPair:
    """v1 of 1-2 rules of 1-3 literals; v2 the same with one change: a literal dropped,
    replaced or added, or a rule added. Each version may read input through an alias."""
    fresh = [0]
    read: set[str] = set()

    def literal() -> str:
        text, paths = draw(_api_literal(fresh))
        read.update(paths)
        return text

    v1 = [[literal() for _ in range(draw(st.integers(1, 3)))] for _ in range(draw(st.integers(1, 2)))]
    v2 = [list(r) for r in v1]
    change = draw(st.sampled_from(["drop", "replace", "add", "rule"]))
    i = draw(st.integers(0, len(v2) - 1))
    j = draw(st.integers(0, len(v2[i]) - 1))
    if change == "drop" and len(v2[i]) > 1:
        del v2[i][j]
    elif change == "add":
        v2[i].append(literal())
    elif change == "rule":
        v2.append([literal()])
    else:
        v2[i][j] = literal()
    aliases = st.sampled_from([None, None, "api", "user"])
    return PolicyPair(v1=api_module(v1, draw(aliases)), v2=api_module(v2, draw(aliases)),
                      paths=tuple(sorted(read)))


# ------------------------------------------------------------------ large policies

# `large_policy_pairs()` draws two versions of a policy of tens to hundreds of rules
# over dozens of constants: a role and an action per rule, then resource kinds, groups
# an input array is tested against (24 of them: 2**24 subsets), numeric levels and a
# helper rule — a matrix far too large to enumerate class combination by class
# combination (issue 14; `policydiff.search`). `large_request()` makes requests of the
# same shape, near misses, absent fields and values of the wrong type among them.

LARGE_ROLES = tuple(f"role{i}" for i in range(8))
LARGE_ACTIONS = tuple(f"res{i}:{v}" for i in range(5) for v in ("read", "write", "delete"))
LARGE_KINDS = tuple(f"kind{i}" for i in range(10))
LARGE_GROUPS = tuple(f"g{i}" for i in range(24))
LARGE_HELPER = ('privileged if "g0" in input.subject.groups\n\n'
                'privileged if input.resource.level > 7\n')


@st.composite
def _large_literal(draw) -> str:
    kind = draw(st.sampled_from(["kind", "kind", "in", "in", "elem", "not_in", "level", "level", "helper"]))
    g = draw(st.sampled_from(LARGE_GROUPS))
    level = draw(st.sampled_from([0, 1, 2, 2.5, 3, 5, 7, 9]))
    return {"kind": f'input.resource.kind == "{draw(st.sampled_from(LARGE_KINDS))}"',
            "in": f'"{g}" in input.subject.groups',
            "elem": f'input.subject.groups[_] == "{g}"',
            "not_in": f'not "{g}" in input.subject.groups',
            "level": f"input.resource.level {draw(st.sampled_from(['>', '>=', '<']))} {level}",
            "helper": draw(st.sampled_from(["privileged", "not privileged"]))}[kind]


@st.composite
def _large_rule(draw) -> list[str]:
    return ([f'input.subject.role == "{draw(st.sampled_from(LARGE_ROLES))}"',
             f'input.action == "{draw(st.sampled_from(LARGE_ACTIONS))}"']
            + draw(st.lists(_large_literal(), max_size=2)))


def large_module(rules: list[list[str]]) -> str:
    body = ["allow if {\n\t" + "\n\t".join(r) + "\n}" for r in rules]
    return ("package large\n\nimport rego.v1\n\ndefault allow := false\n\n" + "\n\n".join(body)
            + "\n\n" + LARGE_HELPER)


@st.composite
def large_policy_pairs(draw, min_rules: int = 20, max_rules: int = 60) -> tuple[str, str]:
    """v1 of `min_rules`..`max_rules` rules; v2 with one to three changes: a rule
    dropped or added, a literal replaced, dropped or added."""
    v1 = draw(st.lists(_large_rule(), min_size=min_rules, max_size=max_rules))
    v2 = [list(r) for r in v1]
    for _ in range(draw(st.integers(1, 3))):
        change = draw(st.sampled_from(["drop_rule", "add_rule", "replace", "drop", "add"]))
        i = draw(st.integers(0, len(v2) - 1))
        if change == "drop_rule" and len(v2) > 1:
            del v2[i]
        elif change == "add_rule":
            v2.append(draw(_large_rule()))
        elif change == "replace":
            v2[i][draw(st.integers(0, len(v2[i]) - 1))] = draw(_large_literal())
        elif change == "drop" and len(v2[i]) > 1:
            del v2[i][draw(st.integers(0, len(v2[i]) - 1))]
        else:
            v2[i].append(draw(_large_literal()))
    return large_module(v1), large_module(v2)


def large_request(rnd) -> dict:
    """A request of the large policies' shape, from `rnd` (a `random.Random`): many
    per drawn policy pair, so drawn outside Hypothesis; fields may be missing or
    mistyped."""
    absent = object()
    groups = rnd.sample(LARGE_GROUPS + ("g-x",), rnd.randint(0, 4))
    subject = {"role": rnd.choice(LARGE_ROLES + ("role-x", absent, 3)),
               "groups": rnd.choice([groups, groups, groups, absent, "g0"])}
    resource = {"kind": rnd.choice(LARGE_KINDS + ("kind-x", absent)),
                "level": rnd.choice([0, 1, 2, 2.5, 3, 4, 5.5, 7, 7.5, 8, 9, 10, -1, "8", absent])}
    inp = {"subject": {k: v for k, v in subject.items() if v is not absent},
           "resource": {k: v for k, v in resource.items() if v is not absent}}
    action = rnd.choice(LARGE_ACTIONS + ("res9:read", absent))
    if action is not absent:
        inp["action"] = action
    return inp
