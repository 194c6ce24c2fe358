"""Reporters: one module per output format, all reading the same ``Audit``.

``render(audit, fmt)`` with ``fmt`` one of ``FORMATS`` is what commands and other stages call.
Reporters are generic over where a finding came from (static analysis, a runtime profile or the
live database review) and print a finding's runtime evidence whenever it has some.
"""

from __future__ import annotations

from dbaudit.findings import Audit

FORMATS: tuple[str, ...] = ("text", "json", "markdown", "html", "sarif")


def render(audit: Audit, fmt: str) -> str:
    """The whole report as text (the text format without colours)."""
    if fmt == "text":
        from dbaudit.report import text

        return text.render(audit)
    if fmt == "json":
        from dbaudit.report import json

        return json.render(audit)
    if fmt in ("markdown", "md"):
        from dbaudit.report import markdown

        return markdown.render(audit)
    if fmt == "html":
        from dbaudit.report import html

        return html.render(audit)
    if fmt == "sarif":
        import os

        from dbaudit.report import sarif

        # finding paths are relative to the working directory the audit ran in
        return sarif.render(audit, source_root=os.getcwd())
    raise ValueError(f"unknown report format {fmt!r} (expected one of: {', '.join(FORMATS)})")
