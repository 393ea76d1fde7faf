"""The real-world corpus (`tests/realworld/`): consecutive versions of real policies,
each pair compared by `policydiff compare` and held against real OPA over every input
of its input space (`tests/exactness.py` says what "exact" means).

A pair compare refuses (exit 2, `unsupported` or `matrix_too_large`) is not a pass and
is accepted as an honest refusal, but at least ten pairs must be decided; any other
answer must be exact. The v0 originals are checked too:
every converted module loads in OPA 1.x and decides every input of its pairs' spaces as
the v0 file does under rego-cpp, which still reads v0.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from engines import EngineError, OpaEngine, RegopyEngine
from exactness import REFUSALS, Result, _data_doc, check, inputs, size

HERE = Path(__file__).resolve().parent / "realworld"
PAIRS = sorted((HERE / "pairs").glob("*.yaml"))


def load_pair(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text())
    spec["data"] = [_under_here(d) for d in spec.get("data", [])]
    return spec


def _under_here(spec: str) -> str:
    ref, sep, file = spec.rpartition("=")
    return f"{ref}={HERE / file}" if sep else str(HERE / file)


def test_the_corpus_has_ten_pairs_with_licenses_and_provenance():
    sources = (HERE / "SOURCES.md").read_text()
    assert len(PAIRS) >= 10
    for pair in PAIRS:
        spec = load_pair(pair)
        for side in ("v1", "v2"):
            policy = HERE / spec[side]
            assert policy.exists(), policy
            assert (policy.parent / "LICENSE").exists(), policy.parent
            assert policy.name in sources, f"{policy.name} has no provenance in SOURCES.md"
        assert size(spec["space"]) <= 5000, pair.name


V0_SAMPLE = 20  # inputs per converted module decided by rego-cpp (up to 0.1 s each), spread over the space
_RESULTS: dict[str, Result] = {}


def _result(pair: Path, tmp_path_factory) -> Result:
    """compare and brute force on one pair, once per session."""
    if pair.stem not in _RESULTS:
        spec = load_pair(pair)
        _RESULTS[pair.stem] = check(
            HERE / spec["v1"], HERE / spec["v2"], decision=spec["decision"],
            dims=spec.get("dimensions", []), data=spec["data"], space=inputs(spec["space"]),
            workdir=tmp_path_factory.mktemp(pair.stem))
    return _RESULTS[pair.stem]


@pytest.mark.parametrize("pair", PAIRS, ids=[p.stem for p in PAIRS])
def test_compare_is_exact_on_the_pair(pair, tmp_path_factory):
    result = _result(pair, tmp_path_factory)
    if result.report is None:
        assert result.exit_code == 2 and any(r in result.refused for r in REFUSALS), result.refused
        return
    assert result.exit_code in (0, 1)
    assert not result.failures, "\n".join(result.failures)


def test_compare_decides_at_least_ten_pairs(tmp_path_factory):
    """A refusal is not a pass, but it proves nothing either: most of the corpus must be
    decided."""
    refused = {}
    for pair in PAIRS:
        try:
            result = _result(pair, tmp_path_factory)
        except Exception as e:  # noqa: BLE001 -- a crash fails its own test; here it is one undecided pair
            refused[pair.stem] = f"{type(e).__name__}: {e}"
            continue
        if result.report is None:
            refused[pair.stem] = result.refused
    assert len(PAIRS) - len(refused) >= 10, refused


def _converter():
    import importlib.util

    spec = importlib.util.spec_from_file_location("convert_v0", HERE / "convert_v0.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _v0_pairs() -> list[tuple[Path, Path]]:
    """(v0 original, converted twin) and the pair files whose spaces decide them."""
    return [(src, src.parent.parent / src.name) for src in sorted(HERE.glob("*/v0/*.rego"))]


def _unconvert(text: str) -> str:
    """The converted text with the rewrite undone: the v0 original, if it is purely
    syntactic."""
    text = text.replace("\n\nimport rego.v1\n", "\n", 1)
    text = re.sub(r"^(\S+) contains (.+) if \{$", r"\1[\2] {", text, flags=re.MULTILINE)
    return re.sub(r"^(\S.*) if \{$", r"\1 {", text, flags=re.MULTILINE)


def _without_future(v0: str) -> str:
    """The original without its `import future.keywords...` lines (and a blank line
    after one), which the conversion replaces by `import rego.v1`."""
    return re.sub(r"^import future\.keywords\.\w+\n(\n(?=\S))?", "", v0, flags=re.MULTILINE)


def _spaced(text: str) -> str:
    """Text up to the spacing before a body's `{` (`f(x){` is converted `f(x) if {`)."""
    return re.sub(r"\s*\{$", " {", text.rstrip("\n"), flags=re.MULTILINE)


@pytest.mark.parametrize("original,converted", _v0_pairs(), ids=[c.stem for _, c in _v0_pairs()])
def test_converted_v0_modules_decide_as_the_originals(original, converted):
    """The converted module is the script's output, differs from the original only by
    the rewrite, loads in OPA 1.x, and decides as rego-cpp decides the original
    wherever both engines decide (rego-cpp crashes on some modules, and OPA here has
    strict builtin errors), on up to `V0_SAMPLE` inputs of one of its spaces spread evenly."""
    v0 = original.read_text()
    assert converted.read_text() == _converter().convert(v0), "run convert_v0.py"
    assert _spaced(_unconvert(converted.read_text())) == _spaced(_without_future(v0))
    specs = [load_pair(p) for p in PAIRS]
    name = str(converted.relative_to(HERE))
    uses = [s for s in specs if name in (s["v1"], s["v2"])]
    assert uses, f"{name} is in no pair"
    for spec in uses[:1]:  # one space is enough evidence; rego-cpp costs ms a decision
        data = _data_doc(spec["data"])
        opa = OpaEngine({name: converted.read_text()}, data)
        try:
            cpp = RegopyEngine({name: v0}, data)
        except EngineError:
            continue
        try:
            space = list(inputs(spec["space"]))
            for inp in space[::-(-len(space) // V0_SAMPLE)]:
                try:
                    want = opa.evaluate(spec["decision"], inp) is True
                except EngineError:
                    continue
                try:
                    got = cpp.evaluate(spec["decision"], inp) is True
                except EngineError as e:
                    if "crashed" in str(e):
                        break
                    continue
                assert got == want, inp
        finally:
            opa.close()
            cpp.close()
