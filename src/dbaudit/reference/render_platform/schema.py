"""The render platform's tables, shared by both variants.

The secondary indexes are declared here, next to the models, but only the optimized variant
creates them: ``create_schema(engine, "naive")`` makes tables with their primary keys, foreign
keys, unique and check constraints and nothing else, which is the schema the naive app ships
with (and the one the index advisor is meant to improve). ``Base.metadata.create_all`` would
create the indexes as well, since they are bound to the model columns: use ``create_schema``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.schema import CreateIndex, CreateTable

from dbaudit.reference.render_platform.results import RENDER_STATUSES

Variant = Literal["naive", "optimized"]
VARIANTS: tuple[Variant, ...] = ("naive", "optimized")


class Base(DeclarativeBase):
    pass


def _pk() -> Mapped[int]:
    return mapped_column(BigInteger, Identity(), primary_key=True)


def _timestamp() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = _pk()
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _timestamp()

    projects: Mapped[list[Project]] = relationship(back_populates="user")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _timestamp()
    updated_at: Mapped[datetime] = _timestamp()

    user: Mapped[User] = relationship(back_populates="projects")
    chains: Mapped[list[RenderChain]] = relationship(back_populates="project")


class RenderChain(Base):
    __tablename__ = "render_chains"

    id: Mapped[int] = _pk()
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _timestamp()

    project: Mapped[Project] = relationship(back_populates="chains")


class Render(Base):
    __tablename__ = "renders"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in RENDER_STATUSES) + ")",
            name="ck_renders_status",
        ),
    )

    id: Mapped[int] = _pk()
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    chain_id: Mapped[int | None] = mapped_column(ForeignKey("render_chains.id"))
    chain_position: Mapped[int | None] = mapped_column(Integer)
    parent_render_id: Mapped[int | None] = mapped_column(ForeignKey("renders.id"))
    reference_render_id: Mapped[int | None] = mapped_column(ForeignKey("renders.id"))
    type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    prompt: Mapped[str] = mapped_column(Text)
    output_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _timestamp()
    updated_at: Mapped[datetime] = _timestamp()


class GalleryItem(Base):
    __tablename__ = "gallery_items"

    id: Mapped[int] = _pk()
    render_id: Mapped[int] = mapped_column(ForeignKey("renders.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    is_public: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _timestamp()


class SubscriptionPlan(Base):
    __tablename__ = "subscription_plans"

    id: Mapped[int] = _pk()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    credits_per_month: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)


class UserSubscription(Base):
    __tablename__ = "user_subscriptions"

    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("subscription_plans.id"))
    status: Mapped[str] = mapped_column(String(20))
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _timestamp()


class UserCredits(Base):
    __tablename__ = "user_credits"

    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    balance: Mapped[int] = mapped_column(Integer)
    monthly_allowance: Mapped[int] = mapped_column(Integer)
    last_reset_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CreditTransaction(Base):
    __tablename__ = "credit_transactions"

    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    reference_type: Mapped[str | None] = mapped_column(String(40))
    reference_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _timestamp()


class FileStorage(Base):
    __tablename__ = "file_storage"

    id: Mapped[int] = _pk()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    url: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _timestamp()


# The indexes the optimized queries need. Each names the operation it serves, so a reader (and
# the index advisor's tests) can tell why it exists.
OPTIMIZED_INDEXES: tuple[Index, ...] = (
    # get_user_projects, get_user_recent_projects, get_profile_stats: a user's projects by recency.
    Index("ix_projects_user_updated", Project.user_id, Project.updated_at.desc()),
    # get_user_chains_with_renders: chains of a batch of projects.
    Index("ix_render_chains_project", RenderChain.project_id),
    # get_user_chains_with_renders, delete_chain: renders of a chain in order; most renders are
    # in no chain, so the partial index stays small.
    Index(
        "ix_renders_chain_position",
        Render.chain_id,
        Render.chain_position,
        postgresql_where=text("chain_id IS NOT NULL"),
    ),
    # get_profile_stats: a user's most recent renders.
    Index("ix_renders_user_created", Render.user_id, Render.created_at.desc()),
    # get_user_projects: render counts and the latest renders per project (the planner uses its
    # project_id prefix at 1M renders), and status boards: a project's renders of one status by
    # recency. A separate (project_id, created_at) index went unused in the plans, so it is not
    # declared: it would only cost writes.
    Index(
        "ix_renders_project_status_created",
        Render.project_id,
        Render.status,
        Render.created_at.desc(),
    ),
    # Deleting a render checks who points at it; without these, each delete scans all renders.
    Index(
        "ix_renders_parent",
        Render.parent_render_id,
        postgresql_where=text("parent_render_id IS NOT NULL"),
    ),
    Index(
        "ix_renders_reference",
        Render.reference_render_id,
        postgresql_where=text("reference_render_id IS NOT NULL"),
    ),
    # get_user_credits_with_reset: the active subscription of a user.
    Index("ix_user_subscriptions_user_status", UserSubscription.user_id, UserSubscription.status),
    Index("ix_user_subscriptions_plan", UserSubscription.plan_id),
    # Credit history pages: a user's transactions by recency.
    Index(
        "ix_credit_transactions_user_created",
        CreditTransaction.user_id,
        CreditTransaction.created_at.desc(),
    ),
    # Gallery: a render's gallery entries, and the public feed by date.
    Index("ix_gallery_items_render", GalleryItem.render_id),
    Index("ix_gallery_items_user", GalleryItem.user_id),
    Index(
        "ix_gallery_items_public_created",
        GalleryItem.created_at.desc(),
        postgresql_where=text("is_public"),
    ),
    # Storage usage: a user's files by recency.
    Index("ix_file_storage_user_created", FileStorage.user_id, FileStorage.created_at.desc()),
)


def _check_variant(variant: str) -> Variant:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (expected one of: {', '.join(VARIANTS)})")
    return variant


def _create_tables(connection: Connection) -> None:
    # CreateTable carries primary keys, foreign keys, unique and check constraints, but never
    # the Index objects: that is exactly the naive schema.
    for table in Base.metadata.sorted_tables:
        connection.execute(CreateTable(table))


def _create_indexes(connection: Connection) -> None:
    for index in OPTIMIZED_INDEXES:
        connection.execute(CreateIndex(index))


async def create_schema(engine: AsyncEngine, variant: Variant) -> None:
    """Create every table; the optimized variant also gets ``OPTIMIZED_INDEXES``."""
    checked = _check_variant(variant)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: _create_tables(sync))
        if checked == "optimized":
            await connection.run_sync(lambda sync: _create_indexes(sync))


async def create_indexes(engine: AsyncEngine) -> None:
    """Add the optimized indexes to a naive schema (faster than loading a large scale into them)."""
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: _create_indexes(sync))


async def drop_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: Base.metadata.drop_all(sync))
