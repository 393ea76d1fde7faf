from policydiff.errors import Diagnostic, redact, render
from policydiff.source import Span


def test_redact_hides_url_and_keyword_passwords():
    text = "connect postgresql://app:s3cret@db.example/app and host=x password=hunter2 user=y"
    out = redact(text)
    assert "s3cret" not in out and "hunter2" not in out
    assert "postgresql://app:***@db.example/app" in out


def test_render_points_at_the_span():
    src = {"p.rego": "package p\nallow if { x }\n"}
    d = Diagnostic(code="rego_unsafe_var_error", message="var `x` is unsafe",
                   span=Span(file="p.rego", line=2, col=12, end_line=2, end_col=13))
    out = render(d, src).splitlines()
    assert out[0] == "p.rego:2:12: rego_unsafe_var_error: var `x` is unsafe"
    assert out[1].strip() == "allow if { x }"
    assert out[2].index("^") - 2 == 11
