"""The static audit on TypeScript and JavaScript trees: dispatch, skips, cache key, CLI."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from dbaudit.audit import AuditOptions, is_error, scan
from dbaudit.cli import main
from dbaudit.frontends import python as python_frontend
from dbaudit.frontends import typescript
from dbaudit.scan.discovery import SCRIPT_SUFFIXES

FIXTURE = Path(__file__).parents[1] / "fixtures" / "ts_render_platform"
REFERENCE = Path(python_frontend.__file__).parents[2] / "reference" / "render_platform"

DAL = """\
import { eq } from "drizzle-orm";
import { db } from "@/db";
import { renders } from "@/db/schema";

export async function rendersForProject(projectId: number) {
  return db.select().from(renders).where(eq(renders.projectId, projectId)).limit(50);
}
"""

SERVICE = """\
import { rendersForProject } from "@/dal/renders";

export async function overviews(projectIds: number[]) {
  const out = [];
  for (const id of projectIds) {
    out.push(await rendersForProject(id));
  }
  return out;
}
"""

TSCONFIG = '{"compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["./src/*"]}}}'

PYTHON_LOOP = """\
from sqlalchemy import select


async def load(session, ids):
    rows = []
    for item_id in ids:
        rows.append(await session.scalar(select(Item).where(Item.id == item_id)))
    return rows
"""


@pytest.fixture()
def inside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The frontend resolves imports relative to the working directory, as the CLI runs it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def audit_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(["audit", *args, "--format", "json", "--no-cache"])
    assert code == 0, capsys.readouterr().err
    document: dict = json.loads(capsys.readouterr().out)
    return document


def test_typescript_naive_app_gets_the_rules_of_the_python_reference(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REFERENCE)
    python = Counter(f["rule"] for f in audit_json(["naive"], capsys)["findings"])
    monkeypatch.chdir(FIXTURE)
    document = audit_json(["naive"], capsys)
    typescript = Counter(f["rule"] for f in document["findings"])
    assert typescript == python
    assert {"DBA102", "DBA103", "DBA105", "DBA106", "DBA107", "DBA108"} <= set(typescript)
    nested = next(f for f in document["findings"] if f["severity"] == "critical")
    assert nested["rule"] == "DBA102" and nested["query_cost"] == "1 + N + N·M"
    assert [hop["path"] for hop in nested["call_chain"]] == [
        "naive/lib/services/chains.ts",
        "naive/lib/dal/renders.ts",
    ]
    languages = {f["language"] for f in document["files"]}
    assert languages == {"typescript"}
    layers = {f["path"]: f["layer"] for f in document["files"]}
    assert layers["naive/lib/dal/renders.ts"] == "data access"
    assert layers["naive/lib/services/chains.ts"] == "services"


def test_typescript_optimized_app_is_clean_with_good_practices(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURE)
    document = audit_json(["optimized"], capsys)
    assert [f for f in document["findings"] if f["severity"] != "info"] == []
    kinds = {p["kind"] for p in document["good_practices"]}
    assert len(kinds) >= 4, kinds
    assert document["skipped"] == []


def test_a_mixed_tree_of_python_and_typescript(inside: Path) -> None:
    write(
        inside,
        {
            "web/tsconfig.json": TSCONFIG,
            "web/src/dal/renders.ts": DAL,
            "web/src/services/overviews.ts": SERVICE,
            "api/dal/items.py": PYTHON_LOOP,
        },
    )
    run = scan(["."], AuditOptions(cwd=str(inside), use_cache=False))
    found = {(f.path, f.rule) for f in run.audit.findings}
    assert ("api/dal/items.py", "DBA101") in found
    assert ("web/src/services/overviews.ts", "DBA102") in found
    ts = next(f for f in run.audit.findings if f.path.endswith(".ts"))
    assert ts.call_chain[-1].path == "web/src/dal/renders.ts"  # through the @/ alias
    languages = {f.path: f.language for f in run.audit.files}
    assert languages["api/dal/items.py"] == "python"
    assert languages["web/src/dal/renders.ts"] == "typescript"


def test_editing_tsconfig_invalidates_the_cached_typescript_models(inside: Path) -> None:
    write(
        inside,
        {
            "tsconfig.json": TSCONFIG,
            "src/dal/renders.ts": DAL,
            "src/services/overviews.ts": SERVICE,
            "other/dal/renders.ts": "export async function rendersForProject(id: number) {\n"
            "  return [id];\n}\n",
        },
    )
    options = AuditOptions(cwd=str(inside), cache_dir=str(inside / "cache"))
    first = scan(["src", "other"], options)
    assert [f.rule for f in first.audit.findings] == ["DBA102"]
    again = scan(["src", "other"], options)
    assert again.stats.files_from_cache == 3 and again.stats.analysis_from_cache
    assert [f.rule for f in again.audit.findings] == ["DBA102"]

    # the alias now points at a helper that never queries: the loop is fine
    (inside / "tsconfig.json").write_text(TSCONFIG.replace("./src/*", "./other/*"))
    edited = scan(["src", "other"], options)
    assert edited.stats.files_from_cache == 0 and not edited.stats.analysis_from_cache
    assert edited.audit.findings == []


def test_node_modules_declarations_bundles_and_syntax_errors(inside: Path) -> None:
    bundle = "var a=" + "1+" * 4000 + "1;db.query('select 1');\n"
    write(
        inside,
        {
            "tsconfig.json": TSCONFIG,
            "src/dal/renders.ts": DAL,
            "src/services/overviews.ts": SERVICE,
            "src/types.d.ts": "export declare function f(): Promise<void>;\n",
            "src/vendor.min.js": bundle,
            "src/broken.ts": "export async function f(ids) {\n"
            "  for (const id of ids) { await db.select().from(t).where(eq(t.id, id)) }\n"
            "  const = ;\n}\n",
            "node_modules/pkg/index.ts": SERVICE,
        },
    )
    run = scan(["."], AuditOptions(cwd=str(inside), use_cache=False))
    reasons = {s.path: s.reason for s in run.audit.skipped}
    assert reasons["src/types.d.ts"].startswith("TypeScript declaration file")
    assert reasons["src/vendor.min.js"].startswith("minified or bundled")
    assert reasons["src/broken.ts"].startswith("partly analyzed (syntax errors near line 3")
    assert not any(path.startswith("node_modules") for path in reasons)
    assert all(f.path.startswith("src/") for f in run.audit.files)
    by_design = {s.path for s in run.audit.skipped if not is_error(s)}
    assert by_design == {"src/types.d.ts", "src/vendor.min.js", "src/broken.ts"}
    # the recovered part of the broken file is still audited
    assert ("src/broken.ts", "DBA101") in {(f.path, f.rule) for f in run.audit.findings}

    with_modules = scan(
        ["."], AuditOptions(cwd=str(inside), use_cache=False, default_excludes=False)
    )
    assert any(f.path == "node_modules/pkg/index.ts" for f in with_modules.audit.files)


def test_inline_suppression_with_a_line_comment(inside: Path) -> None:
    suppressed = SERVICE.replace(
        "for (const id of projectIds) {",
        "for (const id of projectIds) { // dbaudit: ignore[DBA102]",
    )
    write(
        inside,
        {"tsconfig.json": TSCONFIG, "src/dal/renders.ts": DAL, "src/svc.ts": suppressed},
    )
    run = scan(["src"], AuditOptions(cwd=str(inside), use_cache=False))
    assert run.audit.findings == [] and run.stats.suppressed == 1


def test_discovery_reads_the_suffixes_the_frontend_handles() -> None:
    assert SCRIPT_SUFFIXES == typescript.SUFFIXES


def test_javascript_files_are_read_too(inside: Path) -> None:
    shutil.copytree(FIXTURE / "legacy", inside / "legacy")
    run = scan(["legacy"], AuditOptions(cwd=str(inside), use_cache=False))
    assert {f.language for f in run.audit.files} == {"javascript"}
    assert len(run.audit.files) == 2
    found = {(f.path, f.line, f.rule) for f in run.audit.findings}
    assert ("legacy/reports.cjs", 11, "DBA101") in found  # pool.query per id, CommonJS
