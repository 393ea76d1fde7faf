"""CLI: the `compare` command group (placeholder until its issue lands)."""


def register(sub) -> None:
    return None
