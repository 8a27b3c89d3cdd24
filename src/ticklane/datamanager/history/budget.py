"""The budget guard: a paid request is estimated first and refused, with the figures, when it
would exceed the per-request budget or this month's budget (unless the user says to spend).

A "request" is one command: its chunks' estimates are summed and checked together, so a
month of data split into 31 day chunks cannot slip under a per-request limit chunk by chunk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from ticklane.core.time import datetime_to_ns, ns_to_datetime


class BudgetDecision(msgspec.Struct, frozen=True):
    """The figures of a budget check and its verdict; ``reason`` says why it was refused."""

    estimate_usd: Decimal
    per_request_usd: Decimal
    spent_this_month_usd: Decimal
    monthly_usd: Decimal
    allowed: bool
    reason: str = ""

    def describe(self) -> str:
        return (
            f"estimated {usd(self.estimate_usd)}; per-request budget "
            f"{usd(self.per_request_usd)}; this month {usd(self.spent_this_month_usd)} spent "
            f"of {usd(self.monthly_usd)}"
        )


def check_budget(
    estimate_usd: Decimal,
    *,
    per_request_usd: Decimal,
    monthly_usd: Decimal,
    spent_this_month_usd: Decimal,
    yes_spend: bool = False,
) -> BudgetDecision:
    """Allowed when within both budgets, or when ``yes_spend`` overrides them."""
    reasons = []
    if estimate_usd > per_request_usd:
        reasons.append(
            f"the estimate {usd(estimate_usd)} exceeds the per-request budget "
            f"{usd(per_request_usd)} (databento.max_cost_per_request_usd)"
        )
    if spent_this_month_usd + estimate_usd > monthly_usd:
        reasons.append(
            f"this month's {usd(spent_this_month_usd)} plus the estimate would exceed the "
            f"monthly budget {usd(monthly_usd)} (databento.monthly_budget_usd)"
        )
    return BudgetDecision(
        estimate_usd,
        per_request_usd,
        spent_this_month_usd,
        monthly_usd,
        allowed=yes_spend or not reasons,
        reason="; ".join(reasons),
    )


def usd(amount: Decimal) -> str:
    """``$12.50``; an amount under a cent keeps its digits (``$0.000002``) so it never reads
    as free."""
    if 0 < abs(amount) < Decimal("0.01"):
        return f"${amount:.6f}"
    return f"${amount:,.2f}"


def month_start_ns(now_ns: int) -> int:
    """The first instant of ``now_ns``'s calendar month, UTC."""
    moment = ns_to_datetime(now_ns)
    return datetime_to_ns(datetime(moment.year, moment.month, 1, tzinfo=UTC))
