"""policydiff: prove an authorization policy change safe before it is enforced.

The library API (DESIGN.md): `load_policy`, `Policy`, `query`, `PolicyError`.
"""

from policydiff.errors import ExitCode, InfraError, InputError, PolicyError, PolicydiffError

__all__ = ["ExitCode", "InfraError", "InputError", "PolicyError", "PolicydiffError"]
