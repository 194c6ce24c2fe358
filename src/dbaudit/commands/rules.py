"""``dbaudit rules``: every rule with its code, severity, status and name."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from dbaudit.cli import UsageError
from dbaudit.report.common import one_line
from dbaudit.rules.registry import REGISTRY, Rule

HELP = "List the rules of the static audit."
SUMMARY_WIDTH = 100


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--status", metavar="STATUS", help="only rules with this status")


def registry() -> Mapping[str, Rule]:
    """Rule code -> Rule, from ``dbaudit.rules.registry``."""
    return REGISTRY


def summary(rule: Rule) -> str:
    """The first sentence of the rule's docs under its title and headings."""
    paragraph: list[str] = []
    for line in rule.doc.splitlines():
        stripped = line.strip()
        if stripped.startswith(("#", rule.code)) or not stripped:
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    text = " ".join(paragraph).replace("``", "`")
    end = text.find(". ")
    return one_line(text if end < 0 else text[: end + 1], SUMMARY_WIDTH)


def run(args: argparse.Namespace) -> int:
    rules = [rule for _, rule in sorted(registry().items())]
    if args.status:
        rules = [r for r in rules if str(r.status) == args.status]
        if not rules:
            raise UsageError(f"no rule has status {args.status!r}")
    if sys.stdout.isatty():
        table = Table(box=None, pad_edge=False)
        for column in ("code", "severity", "status", "name", "summary"):
            table.add_column(column)
        for rule in rules:
            table.add_row(rule.code, str(rule.severity), str(rule.status), rule.name, summary(rule))
        Console(highlight=False).print(table)
        return 0
    for rule in rules:
        line = f"{rule.code}\t{rule.severity}\t{rule.status}\t{rule.name}\t{summary(rule)}"
        sys.stdout.write(line.rstrip("\t") + "\n")
    return 0
