"""Suite-wide settings: golden files, and hypothesis's profile.

Golden files for rendered output: `pytest --update-goldens` rewrites them.

A test calls `golden("name.txt", text)`; the text must equal `tests/goldens/name.txt`.
With `--update-goldens` the file is written instead, to be reviewed in the diff like any
other change. A missing golden fails with a hint rather than being created silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

# In CI (CI=true) property tests draw the same examples on every run, so a submission
# passes or fails on its own merits; locally they explore new examples each run, and
# what they find is pinned as a reproducer.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")

GOLDENS = Path(__file__).parent / "tests" / "goldens"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/goldens/* from the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    update = request.config.getoption("--update-goldens")

    def check(name: str, text: str) -> None:
        path = GOLDENS / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"missing golden file {path}; run pytest --update-goldens and review it")
        expected = path.read_text(encoding="utf-8")
        assert text == expected, f"output differs from {path} (pytest --update-goldens to accept)"

    return check
