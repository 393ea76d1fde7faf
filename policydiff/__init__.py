"""policydiff: prove an authorization policy change safe before it is enforced.

The library API (DESIGN.md): `load_policy`, `Policy`, `query`, `PolicyError`.
"""

from policydiff.errors import ExitCode, InfraError, InputError, PolicyError, PolicydiffError
from policydiff.policy import UNDEFINED, Policy, load_policy, query

__all__ = [
    "UNDEFINED",
    "ExitCode",
    "InfraError",
    "InputError",
    "Policy",
    "PolicyError",
    "PolicydiffError",
    "load_policy",
    "query",
]
