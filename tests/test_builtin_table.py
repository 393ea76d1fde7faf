"""The builtin table is what OPA declares and what the README says.

`policydiff/compile/builtins/opa_builtins.py` is generated from the capabilities of the OPA that
`opa_bindings` embeds, and the README's table of supported and refused builtins from
`policydiff.compile.builtins`: both must be current (rerun the scripts when not).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from policydiff.compile.builtins import BUILTINS, OUT_OF_SCOPE
from policydiff.compile.builtins.opa_builtins import OPA_ARITY

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_opa_builtins_is_generated_from_opa():
    gen = _script("opa_builtins")
    assert gen.OUT.read_text(encoding="utf-8") == gen.render(gen.capabilities()), \
        "rerun `python scripts/opa_builtins.py`"


def test_readme_table_is_current():
    gen = _script("builtin_table")
    readme = gen.README.read_text(encoding="utf-8")
    assert gen.updated(readme) == readme, "rerun `python scripts/builtin_table.py`"


def test_every_refusal_by_design_names_an_opa_builtin_we_do_not_evaluate():
    assert set(OUT_OF_SCOPE) <= set(OPA_ARITY)
    assert not set(OUT_OF_SCOPE) & set(BUILTINS)
    for name, (arity, _) in BUILTINS.items():
        assert OPA_ARITY[name] == arity, name
