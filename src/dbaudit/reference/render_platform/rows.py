"""ORM objects to the shared result dataclasses; both variants convert through here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import Any

from sqlalchemy import Row

from dbaudit.reference.render_platform.results import ChainRow, CreditsRow, RenderRow, UserRow
from dbaudit.reference.render_platform.schema import Render, RenderChain, User, UserCredits


def render_row(render: Render) -> RenderRow:
    return RenderRow(
        id=render.id,
        project_id=render.project_id,
        user_id=render.user_id,
        chain_id=render.chain_id,
        chain_position=render.chain_position,
        parent_render_id=render.parent_render_id,
        reference_render_id=render.reference_render_id,
        type=render.type,
        status=render.status,
        prompt=render.prompt,
        output_url=render.output_url,
        created_at=render.created_at,
        updated_at=render.updated_at,
    )


# render_rows builds RenderRow positionally from rows of the renders table's columns; that
# only holds while the two list the same names in the same order, checked here once.
_RENDER_FIELDS = tuple(field.name for field in fields(RenderRow))
if tuple(column.name for column in Render.__table__.c) != _RENDER_FIELDS:
    raise RuntimeError("RenderRow fields and renders columns differ in name or order")
# A row's arity is invisible to the type checker; the check above is what guarantees it.
_render_row_from_values: Callable[..., RenderRow] = RenderRow


def render_rows(rows: Iterable[Row[Any]]) -> list[RenderRow]:
    """Plain result rows of the ``renders`` columns (in table order), straight into ``RenderRow``.

    Listings read rows instead of ORM instances: no identity map and no instance state to build,
    which is most of the client CPU of a query returning a hundred renders.
    """
    return [_render_row_from_values(*row) for row in rows]


def chain_row(chain: RenderChain) -> ChainRow:
    return ChainRow(
        id=chain.id, project_id=chain.project_id, name=chain.name, created_at=chain.created_at
    )


def user_row(user: User) -> UserRow:
    return UserRow(id=user.id, email=user.email, name=user.name, created_at=user.created_at)


def credits_row(credits: UserCredits) -> CreditsRow:
    return CreditsRow(
        user_id=credits.user_id,
        balance=credits.balance,
        monthly_allowance=credits.monthly_allowance,
        last_reset_at=credits.last_reset_at,
    )
