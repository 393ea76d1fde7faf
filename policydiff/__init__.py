"""policydiff: prove an authorization policy change safe before it is enforced.

The library API (DESIGN.md): `load_policy`, `Policy`, `query`, `PolicyError`, and
`ShadowAuthorizer`, what an application embeds while a new policy runs in shadow.
"""

from policydiff.errors import ExitCode, InfraError, InputError, PolicyError, PolicydiffError
from policydiff.policy import UNDEFINED, Policy, load_policy, query
from policydiff.replay.shadow import ShadowAuthorizer

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
