"""The ``dbaudit`` command line: parses arguments, calls the library, prints, returns an exit code.

Each subcommand lives in ``dbaudit.commands.<name>`` and exposes ``HELP``, ``configure(parser)``
and ``run(args) -> int``. Errors a user can cause end in one line on stderr and a non-zero exit.

Only the chosen command's module is imported (the others pull in database drivers, the analyzer
or the reporters), so ``dbaudit rules`` or a cached ``dbaudit audit`` start at once; every
module is imported only when the top-level help lists them all.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType, ModuleType

from dbaudit import __version__
from dbaudit.errors import DatabaseUnavailable, UsageError

COMMANDS: tuple[str, ...] = ("demo", "indexes", "audit", "check", "rules", "rule", "report")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2

__all__ = [
    "COMMANDS",
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "main",
]


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"dbaudit.commands.{name}")


def _chosen_command(argv: Sequence[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the command it names is fully configured."""
    chosen = _chosen_command(argv) if argv is not None else None
    parser = argparse.ArgumentParser(
        prog="dbaudit",
        description="Find database performance problems in code, live PostgreSQL and test runs.",
    )
    parser.add_argument("--version", action="version", version=f"dbaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if chosen is not None and name != chosen:
            sub.add_parser(name)  # known, so a typo is still told apart; not imported
            continue
        module = _load(name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(_run=module.run)
    return parser


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SIGTERM's default ends the process at once, leaving an embedded PostgreSQL server and
    # temporary databases behind; raising SystemExit unwinds their context managers instead.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(arguments)
        args = parser.parse_args(arguments)
        if getattr(args, "_run", None) is None:
            parser.print_help()
            return EXIT_USAGE
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
