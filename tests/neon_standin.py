"""A local stand-in for Neon's API v2, the one fake the test suite allows.

It answers the calls `policydiff.db.snapshots.neon` makes with the shapes of Neon's
published OpenAPI spec (branches, endpoints, restore, operations, `{"code", "message"}` errors),
keeps branches and operations in memory, checks the Bearer key, and can be told to
answer 423 (project locked) or 429 (rate limited, with Retry-After) a number of times
first. Operations go `running` → `finished` after a number of polls, or `failed`.

`attach(maintenance_dsn, dbname)` backs the main branch with a real local PostgreSQL
database; a branch created from a backed branch is then a template copy of its parent's
database (Neon's copy-on-write branch, done the slow way), deleting the branch drops
it, and `GET /connection_uri` answers a URI that reaches it (with a password the local
server ignores, so tests can check it is never shown).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlparse

import psycopg
from psycopg import conninfo


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NeonStandin:
    def __init__(self, api_key: str = "neon-test-key", project_id: str = "calm-sky-123456"):
        self.api_key = api_key
        self.project_id = project_id
        self.branches: dict[str, dict] = {}
        self.endpoints: dict[str, dict] = {}
        self.operations: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.locked = 0  # answer 423 to this many mutating requests
        self.rate_limited = 0  # answer 429 to this many requests
        self.bad_gateway: dict[str, int] = {}  # answer 502 to this many requests, by method
        self.polls_until_done = 2
        self.fail_operations = False
        self.restores: list[dict] = []
        self.password = "npg_StandinSecret42"
        self.databases: dict[str, str] = {}  # branch id -> local database
        self._maintenance: str | None = None
        self._lock = threading.Lock()
        main = self._branch("main", parent_id=None)
        self.main_branch_id = main["id"]
        ep = f"ep-quiet-field-{uuid.uuid4().hex[:8]}"
        self.endpoints[ep] = {"id": ep, "host": f"{ep}.us-east-2.aws.neon.tech", "project_id": project_id,
                              "branch_id": main["id"], "type": "read_write", "current_state": "active"}
        self.endpoint_id = ep
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v2"

    def __enter__(self) -> NeonStandin:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def attach(self, maintenance_dsn: str, dbname: str) -> None:
        """Back the main branch with local database `dbname`."""
        self._maintenance = maintenance_dsn
        self.databases[self.main_branch_id] = dbname

    def _sql(self, statement: str) -> None:
        with psycopg.connect(self._maintenance, autocommit=True) as conn:
            conn.execute(statement)

    # ------------------------------------------------------------------ state

    def _endpoint(self, branch_id: str, kind: str) -> dict:
        ep = f"ep-{kind.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        self.endpoints[ep] = {"id": ep, "host": f"{ep}.us-east-2.aws.neon.tech", "project_id": self.project_id,
                              "branch_id": branch_id, "type": kind, "current_state": "init",
                              "created_at": _now(), "updated_at": _now()}
        return self.endpoints[ep]

    def _branch(self, name: str, parent_id: str | None) -> dict:
        bid = f"br-{uuid.uuid4().hex[:6]}-{uuid.uuid4().hex[:8]}"
        branch = {"id": bid, "project_id": self.project_id, "name": name, "current_state": "ready",
                  "state_changed_at": _now(), "creation_source": "console", "default": parent_id is None,
                  "protected": False, "cpu_used_sec": 0, "active_time_seconds": 0, "compute_time_seconds": 0,
                  "written_data_bytes": 0, "data_transfer_bytes": 0, "created_at": _now(), "updated_at": _now()}
        if parent_id:
            branch["parent_id"] = parent_id
        self.branches[bid] = branch
        return branch

    def _operation(self, branch_id: str, action: str) -> dict:
        op = {"id": str(uuid.uuid4()), "project_id": self.project_id, "branch_id": branch_id, "action": action,
              "status": "running", "failures_count": 0, "created_at": _now(), "updated_at": _now(),
              "total_duration_ms": 0, "_polls": 0}
        self.operations[op["id"]] = op
        return op

    @staticmethod
    def _public(op: dict) -> dict:
        return {k: v for k, v in op.items() if not k.startswith("_")}

    # ------------------------------------------------------------------ routes

    def route(self, method: str, path: str, body: dict | None,
              query: dict[str, list[str]] | None = None) -> tuple[int, dict, dict]:
        """(status, json body, headers) for one request."""
        prefix = f"/api/v2/projects/{self.project_id}"
        if not path.startswith(prefix):
            return 404, {"code": "", "message": "project not found"}, {}
        rest = path[len(prefix):]
        if self.bad_gateway.get(method):
            self.bad_gateway[method] -= 1
            return 502, {"code": "", "message": "bad gateway"}, {}
        if self.rate_limited:
            self.rate_limited -= 1
            return 429, {"code": "", "message": "too many requests"}, {"Retry-After": "0"}
        if method == "POST" and self.locked:
            self.locked -= 1
            return 423, {"code": "", "message": "project already has running conflicting operations"}, {}
        if method == "GET" and rest == "/branches":
            return 200, {"branches": list(self.branches.values()), "annotations": {}}, {}
        if method == "POST" and rest == "/branches":
            spec = (body or {}).get("branch") or {}
            parent = spec.get("parent_id") or self.main_branch_id
            if parent not in self.branches:
                return 404, {"code": "", "message": f"branch {parent} not found"}, {}
            branch = self._branch(spec.get("name") or f"br-{uuid.uuid4().hex[:6]}", parent)
            if parent in self.databases:
                copy = f"pdneon_{uuid.uuid4().hex[:12]}"
                self._sql(f'CREATE DATABASE "{copy}" TEMPLATE "{self.databases[parent]}"')
                self.databases[branch["id"]] = copy
            ops = [self._operation(branch["id"], "create_branch")]
            endpoints = [self._endpoint(branch["id"], e.get("type", "read_write"))
                         for e in (body or {}).get("endpoints", [])]
            ops += [self._operation(branch["id"], "start_compute") for _ in endpoints]
            return 201, {"branch": branch, "endpoints": endpoints, "operations": [self._public(o) for o in ops],
                         "roles": [], "databases": [], "connection_uris": []}, {}
        m = re.fullmatch(r"/branches/([a-z0-9-]+)", rest)
        if method == "DELETE" and m and m[1] in self.branches:
            if self.branches[m[1]].get("default") or any(b.get("parent_id") == m[1] for b in self.branches.values()):
                return 422, {"code": "", "message": "branch has children or is the default"}, {}
            branch = self.branches.pop(m[1])
            for ep in [e for e in self.endpoints.values() if e["branch_id"] == m[1]]:
                del self.endpoints[ep["id"]]
            if m[1] in self.databases:
                self._sql(f'DROP DATABASE "{self.databases.pop(m[1])}" WITH (FORCE)')
            op = self._operation(m[1], "delete_timeline")
            return 200, {"branch": branch, "operations": [self._public(op)]}, {}
        if method == "POST" and rest == "/endpoints":
            spec = (body or {}).get("endpoint") or {}
            if spec.get("branch_id") not in self.branches:
                return 404, {"code": "", "message": "branch not found"}, {}
            if spec.get("type") == "read_write" and any(
                    e["branch_id"] == spec["branch_id"] and e["type"] == "read_write" for e in self.endpoints.values()):
                return 409, {"code": "", "message": "branch already has a read_write endpoint"}, {}
            ep = self._endpoint(spec["branch_id"], spec.get("type") or "read_write")
            op = self._operation(spec["branch_id"], "start_compute")
            return 201, {"endpoint": ep, "operations": [self._public(op)]}, {}
        m = re.fullmatch(r"/endpoints/([a-z0-9-]+)", rest)
        if method == "DELETE" and m and m[1] in self.endpoints:
            ep = self.endpoints.pop(m[1])
            op = self._operation(ep["branch_id"], "suspend_compute")
            return 200, {"endpoint": ep, "operations": [self._public(op)]}, {}
        if method == "GET" and rest == "/connection_uri":
            q = {k: v[0] for k, v in (query or {}).items()}
            ep = self.endpoints.get(q.get("endpoint_id", ""))
            if not q.get("database_name") or not q.get("role_name"):
                return 400, {"code": "", "message": "database_name and role_name are required"}, {}
            if ep is None or ep["branch_id"] != q.get("branch_id") or ep["branch_id"] not in self.databases:
                return 404, {"code": "", "message": "endpoint not found"}, {}
            port = conninfo.conninfo_to_dict(self._maintenance).get("port", "5432")
            # a real URI names ep["host"]; here it reaches the branch's local database
            uri = (f"postgresql://{quote(q['role_name'])}:{self.password}@127.0.0.1:{port}/"
                   f"{self.databases[ep['branch_id']]}?sslmode=disable")
            return 200, {"uri": uri}, {}
        m = re.fullmatch(r"/branches/([a-z0-9-]+)/restore", rest)
        if method == "POST" and m:
            target = m[1]
            source = (body or {}).get("source_branch_id")
            if target not in self.branches or source not in self.branches:
                return 404, {"code": "", "message": "branch not found"}, {}
            has_children = any(b.get("parent_id") == target for b in self.branches.values())
            preserve = (body or {}).get("preserve_under_name")
            if has_children and not preserve:
                return 400, {"code": "", "message": "preserve_under_name is required"}, {}
            if preserve:
                kept = self._branch(preserve, self.branches[target].get("parent_id"))
                for b in self.branches.values():
                    if b.get("parent_id") == target:
                        b["parent_id"] = kept["id"]
            self.restores.append({"target": target, **(body or {})})
            op = self._operation(target, "create_timeline")
            return 200, {"branch": self.branches[target], "operations": [self._public(op)]}, {}
        m = re.fullmatch(r"/operations/([0-9a-f-]+)", rest)
        if method == "GET" and m and m[1] in self.operations:
            op = self.operations[m[1]]
            op["_polls"] += 1
            if op["_polls"] >= self.polls_until_done:
                op["status"] = "failed" if self.fail_operations else "finished"
                if self.fail_operations:
                    op["error"] = "timeline creation failed"
            return 200, {"operation": self._public(op)}, {}
        m = re.fullmatch(r"/endpoints/([a-z0-9-]+)", rest)
        if method == "GET" and m and m[1] in self.endpoints:
            return 200, {"endpoint": self.endpoints[m[1]]}, {}
        return 404, {"code": "", "message": "not found"}, {}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                url = urlparse(self.path)
                path = url.path
                with standin._lock:
                    standin.requests.append((method, path, body))
                    if self.headers.get("Authorization") != f"Bearer {standin.api_key}":
                        status, payload, headers = 401, {"code": "", "message": "authentication required"}, {}
                    else:
                        status, payload, headers = standin.route(method, path, body, parse_qs(url.query))
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler
