"""``dbaudit rule ID``: a rule's docs (what, why it is slow, bad and good examples, the fix)."""

from __future__ import annotations

import argparse
import difflib
import sys

from rich.console import Console
from rich.markdown import Markdown

from dbaudit.cli import UsageError
from dbaudit.commands.rules import registry
from dbaudit.rules.registry import Rule

HELP = "Print the documentation of one rule."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule_id", metavar="ID", help="a rule code such as DBA101")


def render_doc(rule: Rule) -> str:
    """Title, severity line, then the docs (whose own title line, if any, becomes the title)."""
    doc = rule.doc.strip()
    first, _, rest = doc.partition("\n")
    if first.upper().startswith(rule.code):
        title, body = first.rstrip("."), rest.strip()
    else:
        title, body = f"{rule.code}: {rule.name}", doc
    facts = f"Name: {rule.name} · Severity: {rule.severity} · Status: {rule.status}"
    return f"# {title}\n\n{facts}\n\n{body}\n"


def run(args: argparse.Namespace) -> int:
    rules = registry()
    code = args.rule_id.strip().upper()
    rule = rules.get(code)
    if rule is None:
        close = difflib.get_close_matches(code, list(rules), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `dbaudit rules`"
        raise UsageError(f"unknown rule {args.rule_id!r}{hint}")
    document = render_doc(rule)
    if sys.stdout.isatty():
        Console().print(Markdown(document))
    else:
        sys.stdout.write(document)
    return 0
