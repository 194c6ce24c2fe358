"""A generic base class (``RepositoryBase[Customer]``, ``Mixin[Customer, UUID]``) is recorded
as the class it subscripts: it was ``<expr>``, so polar's repositories (every one built on
generic mixins) had no known base and none of their inherited queries was followed."""

from __future__ import annotations

import textwrap

from dbaudit.analysis import analyze
from dbaudit.frontends.python import parse_module

SOURCE = textwrap.dedent(
    """
    from sqlalchemy import select

    from app.models import Customer


    class RepositoryBase[M]:
        def __init__(self, session):
            self.session = session

        async def get_one_or_none(self, statement):
            return (await self.session.execute(statement)).scalar_one_or_none()


    class IDMixin[M, ID]:
        async def get_by_id(self, id):
            return await self.get_one_or_none(select(Customer).where(Customer.id == id))


    class CustomerRepository(IDMixin[Customer, int], RepositoryBase[Customer]):
        pass


    async def cleanup(session, customer_ids):
        repository = CustomerRepository(session)
        for customer_id in customer_ids:
            await repository.get_by_id(customer_id)
    """
)


def test_a_generic_base_is_the_class_it_subscripts() -> None:
    module = parse_module("app/repos.py", SOURCE)
    bases = {c.name: c.bases for c in module.classes}
    assert bases["CustomerRepository"] == ("IDMixin", "RepositoryBase")


def test_a_query_inherited_through_generic_bases_is_followed() -> None:
    findings = analyze([parse_module("app/repos.py", SOURCE)], select=["DBA102"]).findings
    assert [(f.function, f.line) for f in findings] == [("cleanup", 27)]
