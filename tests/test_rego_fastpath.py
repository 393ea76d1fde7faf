"""The parser's fast path (`frontend/fastpath.py`) against lark's own lexer and loop:
the same module, spans and diagnostics for every Rego text the repository holds (the
policies, the test fixtures, every module and query of OPA's conformance cases), and for
randomly damaged copies of them, where the fast path must either agree or leave the
text to lark (whose errors and hints are then the ones reported)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from lark.exceptions import UnexpectedInput

from policydiff.errors import PolicyError
from policydiff.frontend import fastpath, rego
from policydiff.source import Source

ROOT = Path(__file__).resolve().parents[1]


def _corpus() -> list[tuple[str, str, str]]:
    """(name, text, start rule) of every Rego text in the repository."""
    out = []
    for base in ("policies", "tests", "examples"):
        for f in sorted((ROOT / base).rglob("*.rego")):
            out.append((str(f.relative_to(ROOT)), f.read_text(encoding="utf-8", errors="replace"), "module"))
    for f in sorted((ROOT / "tests" / "fixtures" / "opa-cases" / "v1").glob("**/*.yaml")):
        for i, case in enumerate(yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]):
            for j, module in enumerate(case.get("modules") or []):
                out.append((f"{f.name}#{i}.{j}", module, "module"))
            if case.get("query"):
                out.append((f"{f.name}#{i}?", case["query"], "query"))
    return out


CORPUS = _corpus()


def _outcome(text: str, start: str, fast: bool):
    """What one parse gives: ("ok", IR, diagnostics) or ("error", kind); the fast path
    alone (no fallback) when `fast`."""
    with rego._LOCK:
        rego._LOWER.reset("x.rego")
        rego._TEXT[0] = text
        try:
            if fast:
                result = fastpath.parse(rego._tables(), text, start, rego._LineBreaks())
            else:
                result = rego._parser().parse(text, start=start)
        except fastpath.Fallback:
            return ("fallback",)
        except (UnexpectedInput, PolicyError) as e:
            return ("error", type(e).__name__)
        return ("ok", result, list(rego._LOWER.diags))


def test_the_corpus_is_large():
    assert len(CORPUS) > 1000  # the conformance cases are there


def test_every_text_of_the_corpus_parses_alike_on_the_fast_path():
    """(A few conformance cases are texts OPA 1.20 refuses, `import rego.v2`: the fast
    path may leave those to lark, as it does damaged texts.)"""
    for name, text, start in CORPUS:
        fast, slow = _outcome(text, start, fast=True), _outcome(text, start, fast=False)
        assert fast == slow or (fast == ("fallback",) and slow[0] == "error"), name


_DAMAGE = ["", " ", "\n", "{", "}", "[", "]", "(", ")", "|", ":=", "=", ":", ",", ";", "if",
           "in", "not", "some", "every", "contains", "else", "-", ".", '"', "`", "#", "1", "x"]


@pytest.mark.parametrize("seed", range(4))
def test_damaged_texts_are_refused_or_parsed_as_lark_does(seed):
    """Random cuts and insertions of tokens: the fast path never accepts what lark
    refuses, nor reads a text differently. (What it leaves to lark, lark parses: the
    outcome is then lark's by construction.)"""
    rng = random.Random(seed)
    modules = [c for c in CORPUS if c[2] == "module" and len(c[1]) < 4000]
    agreed = fell_back = 0
    for _ in range(250):
        _, text, start = rng.choice(modules)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(text) + 1)
            j = min(len(text), i + rng.choice([0, 0, 1, 2, 5]))
            text = text[:i] + rng.choice(_DAMAGE) + text[j:]
        slow = _outcome(text, start, fast=False)
        fast = _outcome(text, start, fast=True)
        if fast == ("fallback",):
            fell_back += 1
        else:
            agreed += 1
            assert fast == slow, text
    assert agreed and fell_back  # both sides of the comparison were exercised


def test_errors_and_positions_are_lark_s():
    text = "package p\n\nallow if {\n\tinput.x == 1\n\tinput.y ==\n}\n"
    for fast in (True, False):
        module, diags = rego.parse_collecting(Source(name="p.rego", text=text), fast=fast)
        assert module is None
        assert [(d.code, d.span.line, d.span.col) for d in diags] == [("rego_parse_error", 6, 1)]


@pytest.mark.parametrize("tail", ["# done", "# [x] {y} (z)\n", "\n\n", "", "  # a # b"])
def test_texts_ending_in_blanks_or_comments_stay_on_the_fast_path(tail):
    text = "package p\n\nallow if input.x == 1 # why\n" + tail
    fast = _outcome(text, "module", fast=True)
    assert fast[0] == "ok" and fast == _outcome(text, "module", fast=False)


@pytest.mark.parametrize("seed", range(3))
def test_a_keyword_glued_to_a_name_is_refused_on_both_paths(seed, tmp_path):
    """Lark's contextual lexer, where its state accepts `package` but no name, would
    read `packagelse p` as `package lse p`; OPA reads one name there and refuses it.
    Both paths refuse it, at the glued word, and so does `policydiff check`."""
    from policydiff.cli import main

    rng = random.Random(seed)
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"
    for _ in range(12):
        tail = rng.choice(chars[:53]) + "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
        blank = rng.choice(["", "\n", "# c\n", "\n\n  "])
        text = f"{blank}package{tail} p\n\nallow if input.x == 1\n"
        line = 1 + blank.count("\n")
        outcomes = []
        for fast in (True, False):
            module, diags = rego.parse_collecting(Source(name="g.rego", text=text), fast=fast)
            assert module is None, text
            outcomes.append([(d.code, d.message, d.span.line, d.span.col, d.span.end_col) for d in diags])
        assert outcomes[0] == outcomes[1]
        col = len(blank.split("\n")[-1]) + 1
        assert outcomes[0] == [("rego_parse_error", f"unexpected `package{tail}`",
                                line, col, col + 7 + len(tail))], text
    f = tmp_path / "glued.rego"
    f.write_text("packagelse p\nallow if true\n", encoding="utf-8")
    assert main(["check", str(f)]) == 2


@pytest.mark.parametrize("text", [
    "package p\n\nimport data.x\n",                          # keywords followed by blanks
    "package p\nallow if {input.x}\n",                        # `if` then `{`
    "package p\nallow if{ true }\n",
    "package p\ndefaultallow := 1\n",                         # a name that starts like a keyword
    "package p\nallow if { some x in [1]; x == 1 }\n",
    "package p\nallow if { every x in [1] { x == 1 } }\n",
])
def test_a_keyword_followed_by_a_symbol_or_blank_still_parses(text):
    for fast in (True, False):
        module, diags = rego.parse_collecting(Source(name="k.rego", text=text), fast=fast)
        assert module is not None and diags == [], (text, diags)
