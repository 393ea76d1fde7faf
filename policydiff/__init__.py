"""policydiff: prove an authorization policy change safe before it is enforced.

The library API (docs/design.md): `load_policy`, `Policy`, `query`, `PolicyError`, and
`ShadowAuthorizer`, what an application embeds while a new policy runs in shadow.
"""

from policydiff.errors import ExitCode, InfraError, InputError, PolicydiffError, PolicyError
from policydiff.policy import UNDEFINED, Policy, load_policy, query

__all__ = [
    "UNDEFINED",
    "ExitCode",
    "InfraError",
    "InputError",
    "Policy",
    "PolicyError",
    "PolicydiffError",
    "ShadowAuthorizer",
    "load_policy",
    "query",
]


def __getattr__(name: str):
    # The shadow authorizer brings the replay package (prometheus-client, the workers):
    # imported on first use, so `check` and `compare` do not pay for it at start-up.
    if name == "ShadowAuthorizer":
        from policydiff.replay.shadow import ShadowAuthorizer

        return ShadowAuthorizer
    raise AttributeError(f"module 'policydiff' has no attribute {name!r}")
