"""The ``dbaudit`` command line: parses arguments, calls the library, prints, returns an exit code.

Each subcommand lives in ``dbaudit.commands.<name>`` and exposes ``HELP``, ``configure(parser)``
and ``run(args) -> int``. Errors a user can cause end in one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from dbaudit import __version__
from dbaudit.db import DatabaseUnavailable

COMMANDS: tuple[str, ...] = ("demo", "indexes", "audit", "check", "rules", "rule", "report")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or input the user can fix; printed as one line, exit 2."""


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"dbaudit.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbaudit",
        description="Find database performance problems in code, live PostgreSQL and test runs.",
    )
    parser.add_argument("--version", action="version", version=f"dbaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args._run(args)
    except UsageError as error:
        print(f"dbaudit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except DatabaseUnavailable as error:
        print(f"dbaudit: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dbaudit: interrupted", file=sys.stderr)
        return 130
    return code
