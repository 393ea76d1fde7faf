"""Neon's API v2, the few calls snapshots need, and the Neon snapshot backend.

Shapes follow Neon's published OpenAPI spec: `POST /projects/{id}/branches` with
`{"branch": {"parent_id", "name"}}` answers `{"branch", "operations", …}`;
`POST /projects/{id}/branches/{branch_id}/restore` with `{"source_branch_id",
"preserve_under_name"}` answers `{"branch", "operations"}`; `GET
/projects/{id}/operations/{op}` answers `{"operation": {"status", …}}`, the status one
of scheduling, running, finished, failed, error, cancelling, cancelled, skipped. Errors
are `{"code", "message"}`. A scratch branch for checking a snapshot is `POST /branches`
with an `endpoints` entry of type read_write, read through `GET /connection_uri` and
removed with `DELETE /branches/{branch_id}`; the snapshot itself is read through a
read_only endpoint (`POST /endpoints`, then `DELETE /endpoints/{id}`). The project is locked while an operation runs (423), and
requests are rate limited (429): both are retried, honouring `Retry-After`.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from policydiff.db.connection import dsn_params, open_connection
from policydiff.db.snapshots.contract import (
    Snapshot,
    check_name,
    refuse_if_replaying,
    unknown_snapshot,
)
from policydiff.errors import Code, InfraError, InputError, register_secrets
from policydiff.source import Span

DEFAULT_HOST = "https://console.neon.tech/api/v2"
BRANCH_PREFIX = "policydiff-snapshot-"
# 423 (a conflicting operation runs) and 429 (rate limit) mean the request was not
# carried out, so any request may be repeated; a 5xx may hide a half-done POST, so only
# reads are repeated after one.
RETRY_ALWAYS = frozenset({423, 429})
RETRY_READS = frozenset({500, 502, 503, 504})
DONE = frozenset({"finished", "skipped"})
FAILED = frozenset({"failed", "error", "cancelled"})


class NeonClient:
    def __init__(
        self,
        api_key: str,
        project_id: str,
        base_url: str = DEFAULT_HOST,
        *,
        attempts: int = 8,
        poll_interval: float = 0.25,
        timeout: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.api_key = api_key
        self.project_id = project_id
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.sleep = sleep

    @classmethod
    def from_env(cls) -> NeonClient:
        return cls(os.environ["NEON_API_KEY"], os.environ["NEON_PROJECT_ID"],
                   os.environ.get("NEON_API_HOST") or DEFAULT_HOST)

    # ------------------------------------------------------------------ transport

    def request(self, method: str, path: str, body: dict | None = None,
                query: dict[str, str] | None = None) -> dict[str, Any]:
        url = f"{self.base_url}/projects/{urllib.parse.quote(self.project_id)}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(self.attempts):
            req = urllib.request.Request(url, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    raw = resp.read()
                    return json.loads(raw) if raw else {}
            except urllib.error.HTTPError as e:
                retryable = e.code in RETRY_ALWAYS or (method == "GET" and e.code in RETRY_READS)
                if retryable and attempt < self.attempts - 1:
                    self.sleep(self._delay(attempt, e.headers.get("Retry-After")))
                    continue
                raise self._error(method, path, e.code, e.read()) from None
            except (urllib.error.URLError, OSError) as e:
                if method == "GET" and attempt < self.attempts - 1:
                    self.sleep(self._delay(attempt, None))
                    continue
                reason = getattr(e, "reason", e)
                raise InfraError.at(Code.NEON_UNREACHABLE, f"cannot reach the neon api at `{self.base_url}`: {reason}",
                                    Span(file="NEON_API_HOST")) from None
        raise AssertionError("unreachable")  # the loop returns or raises

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return max(0.0, float(retry_after))
            except ValueError:
                pass  # an HTTP date: fall back to our own backoff
        return random.uniform(0, min(30.0, 0.5 * 2**attempt))

    def _error(self, method: str, path: str, status: int, raw: bytes) -> InfraError:
        try:
            message = json.loads(raw).get("message") or raw.decode(errors="replace")
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace")
        return InfraError.at(Code.NEON_API_ERROR, f"neon api {method} {path} answered {status}: {message}",
                             Span(file="NEON_PROJECT_ID"))

    # ------------------------------------------------------------------ calls

    def endpoint(self, endpoint_id: str) -> dict[str, Any]:
        return self.request("GET", f"/endpoints/{endpoint_id}")["endpoint"]

    def branches(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        query: dict[str, str] = {"limit": "100"}
        while True:
            page = self.request("GET", "/branches", query=query)
            out.extend(page.get("branches", []))
            cursor = (page.get("pagination") or {}).get("next")
            if not cursor or not page.get("branches"):
                return out
            query = {"limit": "100", "cursor": cursor}

    def create_branch(self, parent_id: str, name: str) -> dict[str, Any]:
        answer = self.request("POST", "/branches", {"branch": {"parent_id": parent_id, "name": name}})
        self.wait(answer.get("operations", []))
        return answer["branch"]

    def restore_branch(self, branch_id: str, source_branch_id: str, preserve_under_name: str) -> dict[str, Any]:
        answer = self.request("POST", f"/branches/{branch_id}/restore",
                              {"source_branch_id": source_branch_id, "preserve_under_name": preserve_under_name})
        self.wait(answer.get("operations", []))
        return answer["branch"]

    def delete_branch(self, branch_id: str) -> None:
        self.wait(self.request("DELETE", f"/branches/{branch_id}").get("operations", []))

    def add_endpoint(self, branch_id: str, kind: str) -> dict[str, Any]:
        answer = self.request("POST", "/endpoints", {"endpoint": {"branch_id": branch_id, "type": kind}})
        self.wait(answer.get("operations", []))
        return answer["endpoint"]

    def delete_endpoint(self, endpoint_id: str) -> None:
        self.wait(self.request("DELETE", f"/endpoints/{endpoint_id}").get("operations", []))

    def connection_uri(self, branch_id: str, endpoint_id: str, database: str, role: str) -> str:
        """The URI (with the role's password, registered for redaction) of `database`
        as `role` through `endpoint_id`."""
        uri = self.request("GET", "/connection_uri", query={
            "branch_id": branch_id, "endpoint_id": endpoint_id,
            "database_name": database, "role_name": role, "pooled": "false"})["uri"]
        register_secrets(uri)
        return uri

    def wait(self, operations: Iterable[dict[str, Any]]) -> None:
        """Poll each operation until it finished, at growing intervals (up to 5 s); a
        failed one is an `InfraError`."""
        deadline = time.monotonic() + self.timeout
        for op in operations:
            status = op.get("status")
            polls = 0
            while status not in DONE:
                if status in FAILED:
                    raise InfraError.at(Code.NEON_OPERATION_FAILED,
                                        f"neon operation `{op['id']}` ({op.get('action')}) {status}: "
                                        f"{op.get('error') or 'no detail'}", Span(file="NEON_PROJECT_ID"))
                if time.monotonic() > deadline:
                    raise InfraError.at(Code.NEON_TIMEOUT, f"neon operation `{op['id']}` still {status}",
                                        Span(file="NEON_PROJECT_ID"))
                self.sleep(min(5.0, self.poll_interval * 2**polls))
                polls += 1
                op = self.request("GET", f"/operations/{op['id']}")["operation"]
                status = op.get("status")


class NeonSnapshots:
    """Snapshots as child branches of the database's Neon branch."""

    def __init__(self, client: NeonClient, dsn: str):
        self.client = client
        self.dsn = dsn
        self._branch_id: str | None = os.environ.get("NEON_BRANCH_ID") or None

    @property
    def branch_id(self) -> str:
        """The database's branch: `NEON_BRANCH_ID`, else that of the DSN's endpoint
        (`ep-…` host, with or without `-pooler`)."""
        if self._branch_id is None:
            host = (dsn_params(self.dsn).get("host") or "").split(",")[0]
            endpoint = host.split(".")[0].removesuffix("-pooler")
            if not endpoint.startswith("ep-"):
                raise InputError.at(Code.NEON_BRANCH_UNKNOWN,
                                    f"cannot tell the neon branch of host `{host}`",
                                    Span(file="--dsn"), help="set NEON_BRANCH_ID")
            self._branch_id = self.client.endpoint(endpoint)["branch_id"]
        return self._branch_id

    def list(self) -> tuple[Snapshot, ...]:
        """The snapshots of this database's branch: its children named as snapshots.
        Snapshots other branches of the project took are theirs to restore, not ours."""
        mine = self.branch_id
        found = [
            Snapshot(name=b["name"][len(BRANCH_PREFIX):], backend="neon", source=mine,
                     location=b["id"], created=b.get("created_at", ""))
            for b in self.client.branches()
            if b.get("name", "").startswith(BRANCH_PREFIX) and b.get("parent_id") == mine
        ]
        return tuple(sorted(found, key=lambda s: s.created))

    def create(self, name: str) -> Snapshot:
        check_name(name)
        if any(s.name == name for s in self.list()):
            raise InputError.at(Code.SNAPSHOT_EXISTS, f"snapshot `{name}` exists", Span(file="NAME"))
        branch = self.client.create_branch(self.branch_id, BRANCH_PREFIX + name)
        return Snapshot(name=name, backend="neon", source=self.branch_id, location=branch["id"],
                        created=branch.get("created_at", ""))

    def restore(self, name: str, *, force: bool = False) -> Snapshot:
        snaps = {s.name: s for s in self.list()}
        if name not in snaps:
            raise unknown_snapshot(name, list(snaps))
        with open_connection(self.dsn, autocommit=True, application_name="policydiff-snapshot") as conn:
            refuse_if_replaying(conn, conn.info.dbname, force)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.client.restore_branch(self.branch_id, snaps[name].location, f"policydiff-before-{name}-{stamp}")
        return snaps[name]

    @contextmanager
    def scratch(self, name: str) -> Iterator[tuple[str, Snapshot]]:
        """A throwaway branch of snapshot `name` with its own read_write endpoint:
        `with snaps.scratch(name) as (dsn, snap): ...`; the branch is deleted when the
        block ends, however it ends."""
        snaps = {s.name: s for s in self.list()}
        if name not in snaps:
            raise unknown_snapshot(name, list(snaps))
        snap = snaps[name]
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        answer = self.client.request("POST", "/branches", {
            "branch": {"parent_id": snap.location, "name": f"policydiff-scratch-{name}-{stamp}"},
            "endpoints": [{"type": "read_write"}]})
        branch_id = answer["branch"]["id"]
        try:
            self.client.wait(answer.get("operations", []))
            endpoints = [e for e in answer.get("endpoints", []) if e.get("type") == "read_write"]
            if not endpoints:
                raise InfraError.at(Code.NEON_NO_ENDPOINT, f"neon created branch `{branch_id}` without an endpoint",
                                    Span(file="NEON_PROJECT_ID"))
            yield self._uri(branch_id, endpoints[0]["id"]), snap
        finally:
            self.client.delete_branch(branch_id)

    @contextmanager
    def reading(self, name: str) -> Iterator[str]:
        """A DSN that reads snapshot `name`'s own branch, through a read_only endpoint
        that is removed when the block ends (the snapshot is never written)."""
        snaps = {s.name: s for s in self.list()}
        if name not in snaps:
            raise unknown_snapshot(name, list(snaps))
        endpoint = self.client.add_endpoint(snaps[name].location, "read_only")
        try:
            yield self._uri(snaps[name].location, endpoint["id"])
        finally:
            self.client.delete_endpoint(endpoint["id"])

    def _uri(self, branch_id: str, endpoint_id: str) -> str:
        params = dsn_params(self.dsn)
        return self.client.connection_uri(branch_id, endpoint_id, params.get("dbname") or "neondb",
                                          params.get("user") or "neondb_owner")
