from __future__ import annotations

import copyreg
import pickle
from dataclasses import dataclass, field

from dbaudit.findings import CallHop, Finding, Severity
from dbaudit.frontends.python import parse_module
from dbaudit.model import ModuleModel
from dbaudit.scan.serialization import register, register_static_model

SOURCE = """\
from sqlalchemy import select


class RendersDAL:
    @staticmethod
    async def for_chains(session, chain_ids):
        for chain_id in chain_ids:
            yield await session.scalars(select(Render).where(Render.chain_id == chain_id))
"""


def test_models_and_findings_round_trip_through_the_registered_reducers() -> None:
    register_static_model()
    assert ModuleModel in copyreg.dispatch_table and Finding in copyreg.dispatch_table
    module = parse_module("app/dal.py", SOURCE)
    assert pickle.loads(pickle.dumps(module)) == module
    finding = Finding(
        "DBA101", Severity.HIGH, "m", "a.py", 1, 2, call_chain=(CallHop("a.py", 1, "f"),)
    )
    assert pickle.loads(pickle.dumps(finding)) == finding


def test_classes_the_constructor_cannot_rebuild_are_left_alone() -> None:
    @dataclass(frozen=True, slots=True)
    class Derived:
        a: int
        b: int = field(init=False, default=0)

    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True)
    class NoSlots:
        a: int

    assert not register(Derived)
    assert not register(Checked)
    assert not register(NoSlots)
    assert not register(int)
