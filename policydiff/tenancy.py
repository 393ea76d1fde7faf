"""Tenancy facts: enterprises, teams, users, resources and actions.

A tenancy is what a matrix is realised over (docs/design.md, Files). It is read
from a JSON or YAML file here, or from the database by `policydiff.db`; both produce the
same `Tenancy` value. Decoding is strict: unknown fields and wrong types are errors that
name the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import msgspec

from policydiff.documents import Document, decode_text, load_yaml, read_text
from policydiff.errors import Code, Diagnostic, InputError
from policydiff.source import Span

ROLES = ("admin", "team_admin", "developer", "viewer", "system")
RELATIONS = ("own_team", "other_team", "enterprise", "other_enterprise")


class Enterprise(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    teams: tuple[str, ...] = ()


class User(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    enterprise: str
    role: str
    teams: tuple[str, ...] = ()


class Resource(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    kind: str
    enterprise: str
    team: str | None = None


class Tenancy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    enterprises: tuple[Enterprise, ...] = ()
    users: tuple[User, ...] = ()
    resources: tuple[Resource, ...] = ()
    actions: tuple[str, ...] = ()

    def requests(self) -> Iterator[tuple[User, str, Resource]]:
        """Every (user, action, resource) triple the tenancy realises."""
        for user in self.users:
            for action in self.actions:
                for resource in self.resources:
                    yield user, action, resource


def relation(user: User, resource: Resource) -> str:
    """Where `resource` stands relative to `user` (docs/design.md, The matrix)."""
    return relation_of(user.enterprise, user.teams, resource.enterprise, resource.team)


def relation_of(subject_enterprise: object, subject_teams: object, resource_enterprise: object,
                resource_team: object) -> str:
    """The relation from the four values it is made of, wherever they come from (a
    tenancy's facts, a request's input, a decision log): the one definition. Team ids
    need not be unique across enterprises, so the enterprise is compared first; teams
    that are not a list or tuple name no team."""
    if subject_enterprise != resource_enterprise:
        return "other_enterprise"
    if resource_team is None:
        return "enterprise"
    if not isinstance(subject_teams, (list, tuple)):
        return "other_team"
    return "own_team" if resource_team in subject_teams else "other_team"


def canonical_teams(teams: tuple[str, ...] | list[str]) -> list[str]:
    """A subject's teams as every request carries them: each once, in byte order (the
    database's `COLLATE "C"`), so a file and the database give the same input for the
    same facts whatever order the file lists them in."""
    return sorted(set(teams), key=str.encode)


def request_input(user: User, action: str, resource: Resource) -> dict:
    """The `input` document of one request, in the runbook's request model."""
    return {
        "subject": {
            "id": user.id,
            "enterprise": user.enterprise,
            "role": user.role,
            "teams": canonical_teams(user.teams),
        },
        "action": action,
        "resource": {
            "id": resource.id,
            "kind": resource.kind,
            "enterprise": resource.enterprise,
            "team": resource.team,
        },
    }


def decode_tenancy(data: bytes | str, name: str = "<tenancy>") -> Tenancy:
    """Decode JSON or YAML text into a `Tenancy`, with errors naming `name` and the field
    (and, for YAML, its line and column)."""
    text = decode_text(data, name) if isinstance(data, bytes) else data
    if not text.strip():
        raise InputError(Diagnostic(code=Code.INVALID_TENANCY, message="the tenancy file is empty",
                                    span=Span(file=name)))
    is_yaml = name.endswith((".yaml", ".yml")) or not text.lstrip().startswith("{")
    doc = None
    try:
        if is_yaml:
            doc = load_yaml(text, name)
            tenancy = msgspec.convert(doc.data, type=Tenancy)
        else:
            tenancy = msgspec.json.decode(text, type=Tenancy)
    except msgspec.ValidationError as e:
        raise InputError(Diagnostic(code=Code.INVALID_TENANCY, message=str(e),
                                    span=_where(doc, str(e), name))) from None
    except msgspec.DecodeError as e:
        raise InputError(
            Diagnostic(code=Code.SYNTAX_ERROR, message=str(e), span=Span(file=name))
        ) from None
    _check_integrity(tenancy, name, doc)
    return tenancy


def load_tenancy(path: str | Path) -> Tenancy:
    return decode_tenancy(read_text(path, "tenancy"), str(path))


_FIELD = re.compile(r"`\$((?:\.[A-Za-z_]+|\[\d+\])*)`")
_STEP = re.compile(r"\.([A-Za-z_]+)|\[(\d+)\]")


def _where(doc: Document | None, message: str, name: str) -> Span:
    """The position of the field a message names as `$.users[3].id`, when it is known."""
    m = _FIELD.search(message)
    if doc is None or not m:
        return Span(file=name)
    return doc.at(tuple(key or int(index) for key, index in _STEP.findall(m[1])))


def _texts(t: Tenancy):
    """Every text of a tenancy, with the field it stands in."""
    for i, e in enumerate(t.enterprises):
        yield f"$.enterprises[{i}].id", e.id
        for j, team in enumerate(e.teams):
            yield f"$.enterprises[{i}].teams[{j}]", team
    for i, u in enumerate(t.users):
        yield from ((f"$.users[{i}].{k}", v) for k, v in (("id", u.id), ("enterprise", u.enterprise),
                                                          ("role", u.role)))
        yield from ((f"$.users[{i}].teams[{j}]", team) for j, team in enumerate(u.teams))
    for i, r in enumerate(t.resources):
        yield from ((f"$.resources[{i}].{k}", v) for k, v in (("id", r.id), ("kind", r.kind),
                                                              ("enterprise", r.enterprise),
                                                              ("team", r.team)) if v is not None)
    yield from ((f"$.actions[{i}]", a) for i, a in enumerate(t.actions))


def _check_integrity(t: Tenancy, name: str, doc: Document | None = None) -> None:
    """Ids are unique and references between facts resolve, as the database's primary
    and foreign keys demand."""
    problems: list[Diagnostic] = []
    teams = {team: e.id for e in t.enterprises for team in e.teams}
    ents = {e.id for e in t.enterprises}

    def bad(field: str, msg: str) -> None:
        message = f"{msg} - at `{field}`"
        problems.append(Diagnostic(code=Code.INVALID_TENANCY, message=message,
                                   span=_where(doc, message, name)))

    for what, ids in (("enterprise", [e.id for e in t.enterprises]),
                      ("team", [team for e in t.enterprises for team in e.teams]),
                      ("user", [u.id for u in t.users]),
                      ("resource", [r.id for r in t.resources]),
                      ("action", list(t.actions))):
        first: dict[str, int] = {}
        for i, id_ in enumerate(ids):
            if id_ in first:
                field = {"enterprise": "$.enterprises", "team": "$.enterprises", "user": "$.users",
                         "resource": "$.resources", "action": "$.actions"}[what]
                at = f"{field}[{i}]" if what != "team" else field
                bad(at, f"duplicate {what} id `{id_}` (first at index {first[id_]})")
            else:
                first[id_] = i

    for field, text in _texts(t):  # PostgreSQL's text cannot hold a NUL: refused here, not at seed
        if "\x00" in text:
            shown = text.replace("\x00", "\\x00")
            bad(field, f"`{shown}` holds a NUL character")

    for i, u in enumerate(t.users):
        if u.enterprise not in ents:
            bad(f"$.users[{i}].enterprise", f"user `{u.id}` names unknown enterprise `{u.enterprise}`")
        for team in u.teams:
            if teams.get(team) != u.enterprise:
                bad(f"$.users[{i}].teams", f"user `{u.id}` is in team `{team}` outside its enterprise")
    for i, r in enumerate(t.resources):
        if r.enterprise not in ents:
            bad(f"$.resources[{i}].enterprise", f"resource `{r.id}` names unknown enterprise `{r.enterprise}`")
        elif r.team is not None and teams.get(r.team) != r.enterprise:
            bad(f"$.resources[{i}].team", f"resource `{r.id}` names team `{r.team}` outside its enterprise")
    if problems:
        raise InputError(problems)
