"""CLI: `policydiff graph` — export the permission graph as DOT or node-link JSON.

The graph holds the tenancy (`--tenancy FILE` or `--dsn DSN`) and the roles of the
policies given: inheritance and grants of role tables; for Rego policies the roles and
actions they name, with what their symbolic matrix allows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from policydiff.cli.common import add_tenancy_flags, tenancy_of, write_output
from policydiff.errors import ExitCode

_ROLE_TABLES = (".yaml", ".yml", ".toml")


def register(sub) -> None:
    p = sub.add_parser("graph", help="export the permission graph (tenancy and roles)",
                       description="Export the permission graph of a tenancy and policies.")
    p.add_argument("policies", metavar="POLICY", nargs="*", help="policies whose roles to include")
    add_tenancy_flags(p)
    p.add_argument("--format", default="dot", choices=("dot", "json"))
    p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> ExitCode:
    from policydiff.graph import add_policy_roles, permission_graph, to_dot, to_json

    tenancy = tenancy_of(args)
    tables = [p for p in args.policies if Path(p).suffix in _ROLE_TABLES]
    g = permission_graph(tenancy, tables)
    rego = [p for p in args.policies if Path(p).suffix not in _ROLE_TABLES]
    if rego:
        from policydiff.policy import load_policy

        for path in rego:
            add_policy_roles(g, load_policy(path), path)
    text = to_dot(g) if args.format == "dot" else to_json(g) + "\n"
    write_output(text, args.output, "graph")
    return ExitCode.OK

