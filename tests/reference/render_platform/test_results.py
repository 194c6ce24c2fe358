from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dbaudit.reference.render_platform.results import (
    FREE_TIER_RESET_PERIOD,
    ActiveSubscription,
    CreditsRow,
    check_limit,
    check_status,
    next_credit_reset,
)

CREDITS = CreditsRow(
    user_id=1, balance=10, monthly_allowance=50, last_reset_at=datetime(2025, 3, 1, tzinfo=UTC)
)


def test_next_reset_is_the_end_of_the_paid_period() -> None:
    period_end = datetime(2025, 4, 15, tzinfo=UTC)
    subscription = ActiveSubscription(7, "active", period_end, 2, "Pro", 500, 2900)
    assert next_credit_reset(CREDITS, subscription) == period_end


def test_next_reset_without_subscription_is_a_fixed_period_after_the_last() -> None:
    assert next_credit_reset(CREDITS, None) == CREDITS.last_reset_at + FREE_TIER_RESET_PERIOD


def test_limits_and_statuses_are_checked() -> None:
    assert check_limit(0) == 0
    with pytest.raises(ValueError, match="zero or more"):
        check_limit(-1)
    assert check_status("failed") == "failed"
    with pytest.raises(ValueError, match="unknown render status 'done'"):
        check_status("done")
