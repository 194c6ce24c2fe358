"""``super().create(...)`` in a class whose first base is a mixin without ``create`` is the
next base's ``create``: the call graph stopped at the first base it could resolve and gave up,
so polar's ``CustomerRepository.create`` (``class CustomerRepository(
RepositorySoftDeletionIDMixin[Customer, UUID], ..., RepositoryBase[Customer])``, which calls
``super().create(object, flush=flush)``) wrote nothing as far as the rules could tell.
``SeatService._find_or_create_customer`` (customer_seat/service.py:854) looks the customer up
again after that insert failed on a concurrent one, and DBA109 called it 'the same query with
nothing written in between; reuse its result'."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.analysis.callgraph import CallGraph
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """\
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from app.models import Customer


    class SoftDeletionMixin:
        def get_base_statement(self):
            return select(Customer).where(Customer.deleted_at.is_(None))


    class RepositoryBase:
        def __init__(self, session):
            self.session = session

        async def create(self, obj, flush=False):
            self.session.add(obj)
            if flush:
                await self.session.flush()
            return obj


    class CustomerRepository(SoftDeletionMixin, RepositoryBase):
        async def create(self, obj, flush=False):
            customer = await super().create(obj, flush=flush)
            return customer

        async def get_by_email(self, email):
            return await self.session.scalar(select(Customer).where(Customer.email == email))


    async def find_or_create(session, email):
        repository = CustomerRepository(session)
        customer = await repository.get_by_email(email)
        if customer is None:
            try:
                customer = await repository.create(Customer(email=email), flush=True)
            except IntegrityError:
                customer = await repository.get_by_email(email)
        return customer


    async def looked_up_twice(session, email):
        repository = CustomerRepository(session)
        first = await repository.get_by_email(email)
        again = await repository.get_by_email(email)
        return first, again
    """
)


def test_super_resolves_past_a_base_without_the_method() -> None:
    graph = CallGraph([parse_module("app/customers.py", SOURCE)])
    ref = graph.functions["app/customers.py::CustomerRepository.create"]
    assert {c.callee: t.function.qualname for c, t in graph.callees(ref)} == {
        "super().create": "RepositoryBase.create"
    }


def test_a_lookup_after_an_insert_through_super_is_no_repeat() -> None:
    module = parse_module("app/customers.py", SOURCE)
    found = {f.function for f in analyze([module], select=["DBA109"]).findings}
    assert "find_or_create" not in found
    assert "looked_up_twice" in found
