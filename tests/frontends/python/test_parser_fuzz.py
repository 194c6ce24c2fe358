"""Generated Python (valid and invalid) never crashes the frontend or the analysis."""

from __future__ import annotations

import pickle

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

NAMES = st.sampled_from(["session", "conn", "cur", "db", "pool", "x", "items", "self", "rows"])
MODELS = st.sampled_from(["User", "Render", "Project", "models.Model", "Base"])
EXPRESSIONS = st.one_of(
    st.builds(lambda n, m: f"{n}.execute(select({m}).where({m}.id == x))", NAMES, MODELS),
    st.builds(lambda n: f'{n}.fetchrow("SELECT * FROM t WHERE id = $1", x)', NAMES),
    st.builds(lambda m: f"{m}.objects.filter(id__in=x).select_related('a')[:3]", MODELS),
    st.builds(lambda n, m: f"{n}.query({m}).filter_by(a=1).first()", NAMES, MODELS),
    st.builds(lambda n: f"{n}.get(User, {n})", NAMES),
    st.builds(lambda n: f"helper({n}, {n}.id)", NAMES),
    st.builds(lambda n: f"asyncio.gather(*({n}.fetch(i) for i in {n}))", NAMES),
    st.builds(lambda n: f"[{n}.x for {n} in {n} if {n}]", NAMES),
    st.builds(lambda n: f"lambda s: {n}(s)", NAMES),
    st.builds(lambda n: f"create_async_engine({n}, pool_size=1, **{n})", NAMES),
    st.builds(lambda n: f"len({n})", NAMES),
    st.just("text(f'SELECT {x} FROM t')"),
)


@st.composite
def blocks(draw: st.DrawFn, depth: int = 0) -> list[str]:
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                ["expr", "assign", "await", "return"]
                + (["for", "if", "while", "with", "try"] if depth < 3 else [])
            )
        )
        expr = draw(EXPRESSIONS)
        name = draw(NAMES)
        if kind == "expr":
            lines.append(expr)
        elif kind == "assign":
            lines.append(f"{name} = {expr}")
        elif kind == "await":
            lines.append(f"{name} = await {expr}")
        elif kind == "return":
            lines.append(f"return {expr}")
        else:
            header = {
                "for": f"for {name} in {expr}:",
                "if": f"if {name} is None:",
                "while": f"while {name}:",
                "with": f"async with {expr} as {name}:",
                "try": "try:",
            }[kind]
            inner = draw(blocks(depth + 1))
            lines.append(header)
            lines.extend("    " + line for line in inner)
            if kind == "try":
                lines.append("except Exception:")
                lines.append("    pass")
    return lines


@st.composite
def modules(draw: st.DrawFn) -> str:
    parts = ["from sqlalchemy import select, text", "import asyncio"]
    for index in range(draw(st.integers(1, 3))):
        body = draw(blocks())
        decorator = draw(st.sampled_from(["", "@staticmethod\n", "@router.get('/x')\n"]))
        parts.append(f"{decorator}async def f{index}(session, x, items):")
        parts.extend("    " + line for line in body)
    if draw(st.booleans()):
        parts.append(f"class {draw(MODELS).split('.')[-1]}X(Base):")
        parts.append("    __tablename__ = 't'")
        parts.append("    rel = relationship('User', lazy='select', backref='xs')")
    return "\n".join(parts) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(modules(), min_size=1, max_size=3))
def test_generated_modules_never_crash(sources: list[str]) -> None:
    models = []
    for index, source in enumerate(sources):
        try:
            models.append(parse_module(f"pkg/m{index}.py", source))
        except SyntaxError:
            continue  # e.g. ``return`` with ``await`` outside async: reported, not a crash
    result = analyze(models)
    assert pickle.loads(pickle.dumps(models)) == models
    for finding in result.findings:
        assert finding.line >= 1 and finding.message


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_parsed_or_rejected_with_a_syntax_error(text: str) -> None:
    try:
        module = parse_module("noise.py", text)
    except SyntaxError as error:
        assert str(error)
    else:
        analyze([module])
