"""``dbaudit rule ID``: a rule's docs (what, why it is slow, bad and good examples, the fix)."""

from __future__ import annotations

import argparse
import difflib
import sys

from rich.console import Console
from rich.markdown import Markdown

from dbaudit.cli import UsageError
from dbaudit.commands.rules import registry

HELP = "Print the documentation of one rule."


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule_id", metavar="ID", help="a rule code such as DBA101")


def run(args: argparse.Namespace) -> int:
    rules = registry()
    code = args.rule_id.strip().upper()
    rule = rules.get(code)
    if rule is None:
        close = difflib.get_close_matches(code, list(rules), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `dbaudit rules`"
        raise UsageError(f"unknown rule {args.rule_id!r}{hint}")
    header = f"# {rule.code}: {rule.name}\n\nSeverity: {rule.severity} · Status: {rule.status}\n"
    document = f"{header}\n{str(rule.doc).strip()}\n"
    if sys.stdout.isatty():
        Console().print(Markdown(document))
    else:
        sys.stdout.write(document)
    return 0
