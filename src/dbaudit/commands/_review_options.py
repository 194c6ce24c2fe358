"""The live review's options, shared by ``dbaudit indexes`` and ``dbaudit audit --db``.

Apart from both commands and free of the advisor's imports (psycopg, sqlglot, SQLAlchemy: half
a second), so that ``dbaudit audit`` without ``--db`` starts without them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dbaudit.errors import UsageError

if TYPE_CHECKING:
    from dbaudit.indexes.advisor import AdvisorSettings

# AdvisorSettings.min_improvement, spelled out for the help text (a test keeps them equal)
DEFAULT_MIN_IMPROVEMENT = 0.10


def add_review_arguments(parser: argparse.ArgumentParser) -> None:
    """``--verify``, ``--rollback-indexes``, ``--min-improvement``, ``--pool-connections``."""
    parser.add_argument(
        "--verify",
        action="store_true",
        help="EXPLAIN ANALYZE the read statements with and without the advised indexes, "
        "built for real inside a transaction that is rolled back",
    )
    parser.add_argument(
        "--rollback-indexes",
        action="store_true",
        help="when HypoPG cannot be used, judge candidates with real indexes built inside a "
        "rolled-back transaction (blocks writes to those tables while it runs)",
    )
    parser.add_argument(
        "--min-improvement",
        type=float,
        default=DEFAULT_MIN_IMPROVEMENT,
        metavar="SHARE",
        help="least share of the helped statements' cost an index must save (default %(default)s)",
    )
    parser.add_argument(
        "--pool-connections",
        type=int,
        metavar="N",
        help="most connections the application's pools open together, to check against "
        "max_connections",
    )


def advisor_settings(args: argparse.Namespace) -> AdvisorSettings:
    """The settings the options of :func:`add_review_arguments` ask for."""
    from dbaudit.indexes.advisor import AdvisorSettings

    if args.min_improvement < 0 or args.min_improvement > 1:
        raise UsageError("--min-improvement must be between 0 and 1")
    return AdvisorSettings(
        min_improvement=args.min_improvement,
        allow_rollback_indexes=args.rollback_indexes,
        verify=args.verify,
    )


def given_without_database(args: argparse.Namespace) -> list[str]:
    """The review options given on the command line (for refusing them without ``--db``)."""
    given = [("--verify", args.verify), ("--rollback-indexes", args.rollback_indexes)]
    given.append(("--pool-connections", args.pool_connections is not None))
    given.append(("--min-improvement", args.min_improvement != DEFAULT_MIN_IMPROVEMENT))
    return [option for option, value in given if value]
