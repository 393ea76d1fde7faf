"""CLI: `policydiff check` and `policydiff eval`.

`check POLICY…` loads the policies together (so imports between them resolve) and
prints one `ok` line per file, or every diagnostic (and a warning for each call of a
clock, network or environment builtin kept only because a `with` replaces it); `eval POLICY… --input FILE` prints
one decision as JSON, with `--explain` also the `file:line` of the rules that made it.
"""

from __future__ import annotations

import json
from pathlib import Path

from policydiff.errors import ExitCode, PolicydiffError, PolicyError
from policydiff.policy import UNDEFINED, data_object, given_once, load_policy, read_document


def register(sub) -> None:
    check = sub.add_parser("check", help="parse and validate policies")
    check.add_argument("policies", nargs="+", metavar="POLICY", help=".rego files or role tables")
    check.set_defaults(handler=run_check)

    ev = sub.add_parser("eval", help="evaluate one decision, printed as JSON")
    ev.add_argument("policies", nargs="+", metavar="POLICY", help=".rego files or role tables")
    ev.add_argument("--input", required=True, metavar="FILE", help="the input document (JSON or YAML)")
    ev.add_argument("--data", action="append", default=[], metavar="FILE",
                    help="a data document (JSON or YAML); repeatable")
    ev.add_argument("--decision", metavar="REF", help="the rule to evaluate, e.g. data.rbac.v2.allow")
    ev.add_argument("--explain", action="store_true", help="also list the rules that produced the value")
    ev.set_defaults(handler=run_eval)


def run_check(args) -> ExitCode:
    """Rego files are checked together, as `opa check` does (so imports between them
    resolve); each role table on its own, since a table is a whole policy. Directories
    stand for the policy files under them. Every file gets a line: `ok`, or its
    diagnostics."""
    from policydiff.bundle import expand
    from policydiff.cli import keep_until_exit

    files = [item for item in expand(args.policies) if isinstance(item, str)]
    given_once(files)  # role tables load one by one: a table given twice is caught here
    tables = [p for p in files if Path(p).suffix in (".yaml", ".yml", ".toml")]
    rego = [p for p in files if p not in tables]
    groups = ([rego] if rego else []) + [[t] for t in tables]
    from policydiff.compile.withs import kept_builtin_calls

    rules: dict[str, int] = {}
    errors = []
    warnings = []  # calls of the clock, network or environment that only a `with` makes safe
    for group in groups:
        try:
            policy = load_policy([Path(p) for p in group])
        except PolicydiffError as e:
            errors.extend(e.diagnostics)
            continue
        for m in policy.modules:
            rules[m.span.file] = rules.get(m.span.file, 0) + len(m.rules)
        warnings.extend(kept_builtin_calls(policy.program))
        keep_until_exit(policy)  # freed by the exit, not one object at a time (see there)
    bad = {d.span.file for d in errors}
    for p in files:
        if p in bad or str(Path(p)) in bad:
            continue
        n = rules.get(str(Path(p)), rules.get(p))
        counted = f" ({n} rule{'s' if n != 1 else ''})" if n is not None else ""
        print(f"{p}: ok{counted}")
    for w in warnings:
        print(f"{w.span}: warning: {w.message}")
    if errors:
        raise PolicyError(errors)
    return ExitCode.OK


def run_eval(args) -> ExitCode:
    data: dict = {}
    for f in args.data:
        data.update(data_object(read_document(f), f))
    input_doc = read_document(args.input)
    from policydiff.bundle import expand

    policy = load_policy(expand(args.policies), data=data, decision=args.decision)
    out: dict = {"decision": policy.decision}
    if args.explain:
        value, rules = policy.explain(input_doc)
    else:
        value, rules = policy.evaluate(input_doc), ()
    out["defined"] = value is not UNDEFINED
    if value is not UNDEFINED:
        out["result"] = value
    if args.explain:
        out["rules"] = list(rules)
    print(json.dumps(out, indent=2, sort_keys=False))
    return ExitCode.OK
