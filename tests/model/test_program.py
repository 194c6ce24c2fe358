import dataclasses
import pickle

import pytest

from dbaudit.model import DbOp, Filter, Function, Loop, ModuleModel, Span


def _module() -> ModuleModel:
    op = DbOp(
        library="sqlalchemy",
        kind="select",
        api="session.execute",
        receiver="session",
        span=Span(3, 3, 8),
        seq=2,
        tables=("Render",),
        filters=(Filter("chain_id", "==", "chain.id", "Render"),),
        loops=(0,),
        reads=frozenset({"chain"}),
    )
    loop = Loop(id=0, kind="for", iterable="chains", span=Span(2, 3, 4), targets=("chain",))
    function = Function(qualname="f", name="f", span=Span(1, 3), db_ops=(op,), loops=(loop,))
    return ModuleModel(path="a.py", lines=3, functions=(function,))


def test_model_pickles_round_trip() -> None:
    module = _module()
    assert pickle.loads(pickle.dumps(module)) == module


def test_model_is_frozen_and_slotted() -> None:
    module = _module()
    with pytest.raises(dataclasses.FrozenInstanceError):
        module.path = "b.py"  # type: ignore[misc]
    assert not hasattr(module.functions[0].db_ops[0], "__dict__")


def test_function_lookup_by_qualname() -> None:
    module = _module()
    assert module.function("f") is module.functions[0]
    assert module.function("missing") is None
