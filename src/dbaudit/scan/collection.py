"""Pausing Python's cyclic garbage collector while the scan builds or loads large object graphs.

Parsing a file (``ast.parse`` plus the frontend's walk) and unpickling every model in the
parent allocate millions of objects that stay alive, and each allocation burst triggers a
collection that traverses everything alive again: on the 1.9M-line django+SQLAlchemy+sympy
tree, unpickling the models took 4.1 s CPU with the collector on and 1.1 s with it paused, the
analysis 2.5 s and 1.2 s. Reference counting still frees everything acyclic at once; cycles
made meanwhile are collected after the pause ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_collection() -> Iterator[None]:
    """Run the block with the cyclic collector off; restore its previous state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
