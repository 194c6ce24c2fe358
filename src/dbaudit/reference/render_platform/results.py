"""What the render platform's operations return, shared by the naive and optimized variants.

Both variants build these frozen dataclasses, so their answers compare with ``==``. Orderings
are part of the contract, and both variants follow them:

- projects: ``updated_at`` descending, then ``id`` descending;
- renders listed by recency: ``created_at`` descending, then ``id`` descending;
- chains of a project: ``created_at`` ascending, then ``id`` ascending;
- renders of a chain: ``chain_position`` ascending, then ``id`` ascending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

RenderStatus = Literal["pending", "processing", "completed", "failed"]
RENDER_STATUSES: tuple[RenderStatus, ...] = ("pending", "processing", "completed", "failed")

LATEST_RENDERS_PER_PROJECT = 4
PROFILE_RECENT_RENDERS = 100
# Without an active subscription, credits reset this long after the last reset.
FREE_TIER_RESET_PERIOD = timedelta(days=30)


class NotFound(LookupError):
    """An operation that changes data was given an id that does not exist."""


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RenderRow:
    id: int
    project_id: int
    user_id: int
    chain_id: int | None
    chain_position: int | None
    parent_render_id: int | None
    reference_render_id: int | None
    type: str
    status: str
    prompt: str
    output_url: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ChainRow:
    id: int
    project_id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ProjectOverview:
    """A project card: how many renders it has and the latest few of them."""

    id: int
    user_id: int
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime
    render_count: int
    latest_renders: tuple[RenderRow, ...]


@dataclass(frozen=True, slots=True)
class ChainWithRenders:
    chain: ChainRow
    renders: tuple[RenderRow, ...]


@dataclass(frozen=True, slots=True)
class ProjectChains:
    project_id: int
    project_name: str
    chains: tuple[ChainWithRenders, ...]


@dataclass(frozen=True, slots=True)
class ProjectRenderCount:
    project_id: int
    name: str
    render_count: int


@dataclass(frozen=True, slots=True)
class CreditsRow:
    user_id: int
    balance: int
    monthly_allowance: int
    last_reset_at: datetime


@dataclass(frozen=True, slots=True)
class ProfileStats:
    user: UserRow
    projects: tuple[ProjectRenderCount, ...]
    credits: CreditsRow | None
    recent_renders: tuple[RenderRow, ...]
    total_renders: int


@dataclass(frozen=True, slots=True)
class RenderContext:
    render: RenderRow
    parent: RenderRow | None
    reference: RenderRow | None
    chain: ChainRow | None


@dataclass(frozen=True, slots=True)
class ActiveSubscription:
    subscription_id: int
    status: str
    current_period_end: datetime
    plan_id: int
    plan_name: str
    credits_per_month: int
    price_cents: int


@dataclass(frozen=True, slots=True)
class CreditsWithReset:
    credits: CreditsRow
    subscription: ActiveSubscription | None
    next_reset_at: datetime


@dataclass(frozen=True, slots=True)
class ChainDeletion:
    chain_id: int
    detached_render_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RenderWithChain:
    render: RenderRow
    chain: ChainRow | None


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    status: Literal["healthy", "unhealthy"]
    latency_ms: float | None
    error: str | None


def next_credit_reset(credits: CreditsRow, subscription: ActiveSubscription | None) -> datetime:
    """Paid plans reset at the end of the billing period; everyone else a fixed period after."""
    if subscription is not None:
        return subscription.current_period_end
    return credits.last_reset_at + FREE_TIER_RESET_PERIOD


def check_limit(limit: int) -> int:
    if limit < 0:
        raise ValueError(f"limit must be zero or more, not {limit}")
    return limit


def check_status(status: str) -> str:
    if status not in RENDER_STATUSES:
        raise ValueError(f"unknown render status {status!r} (expected one of: {RENDER_STATUSES})")
    return status


class RenderPlatformAPI(Protocol):
    """The operations both variants offer, with the same signatures and the same results."""

    async def get_user_projects(self, user_id: int) -> tuple[ProjectOverview, ...]: ...

    async def get_user_chains_with_renders(self, user_id: int) -> tuple[ProjectChains, ...]: ...

    async def get_user_recent_projects(
        self, user_id: int, limit: int = 10
    ) -> tuple[ProjectOverview, ...]: ...

    async def get_profile_stats(self, user_id: int) -> ProfileStats | None: ...

    async def delete_chain(self, chain_id: int) -> ChainDeletion: ...

    async def get_render_with_context(self, render_id: int) -> RenderContext | None: ...

    async def get_user_credits_with_reset(self, user_id: int) -> CreditsWithReset | None: ...
