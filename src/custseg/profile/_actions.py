"""Suggested marketing actions, chosen by a documented grid.

Each segment is placed on two axes, from its z-scores (segment mean minus
overall mean, in overall standard deviations):

* **value**: the mean z of the spending-like features (names with spend,
  purchase, monetary, revenue, sales, ...). When no column looks like spending,
  the mean z of the other numeric features except age and income stands in:
  larger numbers are read as more business, which fits spend-per-category tables.
* **means**: the mean z of income-like features (income, salary, wage, wealth);
  "mid" when there are none.

Each axis is ``low`` (z <= -0.5), ``mid`` or ``high`` (z >= 0.5), and every one of
the nine cells of the grid has exactly one action, so the result never depends
on the order of rules. Frequency-like features (order counts) count towards
value with spending. Age, when present and distinctive, adds a channel hint.

A segment whose recency (days since the last purchase) is high (z >= 0.5) has
lapsed, and gets a win-back action instead, whatever its cell:
``LAPSED_ACTIONS[value == "high"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from custseg.profile._roles import role_of

__all__ = ["ACTION_GRID", "LAPSED_ACTIONS", "Action", "suggest_action"]

LEVEL_Z = 0.5


@dataclass(frozen=True)
class Action:
    """A suggested action: a short title and one or two sentences."""

    title: str
    text: str
    value: str
    means: str


# (value level, means level) -> (title, text)
ACTION_GRID: dict[tuple[str, str], tuple[str, str]] = {
    ("high", "high"): (
        "Reward and retain",
        "Your most valuable customers: offer a VIP or loyalty tier, premium lines "
        "and early access, and protect them from competitors.",
    ),
    ("high", "mid"): (
        "Deepen loyalty",
        "Valuable regulars: use loyalty rewards, personalised recommendations "
        "and referral incentives.",
    ),
    ("high", "low"): (
        "Keep engaged, mind affordability",
        "They spend above their means: reward them with points, bundles and "
        "value packs rather than credit or premium upsells.",
    ),
    ("mid", "high"): (
        "Upsell",
        "Room to grow: promote premium products and cross-sell based on past "
        "purchases.",
    ),
    ("mid", "mid"): (
        "Nurture",
        "The core of the base: keep in touch with regular newsletters, cross-sell "
        "and test offers that move them up.",
    ),
    ("mid", "low"): (
        "Offer value",
        "Price-aware customers: highlight value lines, bundles and seasonal discounts.",
    ),
    ("low", "high"): (
        "Win share of wallet",
        "They could spend far more: find out what holds them back and approach "
        "them with personalised premium offers and exclusive events.",
    ),
    ("low", "mid"): (
        "Re-engage",
        "Low engagement: send reactivation offers and ask for feedback on what "
        "would bring them back.",
    ),
    ("low", "low"): (
        "Serve efficiently",
        "Limited budget and spend: reach them through low-cost channels with "
        "targeted discounts; keep acquisition spending low.",
    ),
}


# Lapsed segments: (title, text) for valuable ones (True) and the others.
LAPSED_ACTIONS: dict[bool, tuple[str, str]] = {
    True: (
        "Win back",
        "Valuable customers who have stopped buying: contact them personally "
        "with a strong, personalised offer before they are lost.",
    ),
    False: (
        "Reactivate or let go",
        "Lapsed customers of modest value: try one low-cost reactivation "
        "campaign, then leave them out of paid campaigns.",
    ),
}


def _level(z: float | None) -> str:
    if z is None or math.isnan(z):
        return "mid"
    if z >= LEVEL_Z:
        return "high"
    if z <= -LEVEL_Z:
        return "low"
    return "mid"


def _mean(values: list[float]) -> float | None:
    clean = [v for v in values if not math.isnan(v)]
    return sum(clean) / len(clean) if clean else None


def suggest_action(z: Mapping[str, float]) -> Action:
    """The action for a segment with these z-scores.

    Examples
    --------
    >>> suggest_action({"Annual Income (k$)": 1.0, "Spending Score (1-100)": -1.2}).title
    'Win share of wallet'
    >>> suggest_action({"Age": -1.0, "Spending Score (1-100)": 1.0}).text.endswith(
    ...     "mobile and social channels.")
    True
    """
    roles = {col: role_of(col) for col in z}
    spend = [z[c] for c, r in roles.items() if r in ("spending", "frequency")]
    if not spend:
        spend = [z[c] for c, r in roles.items() if r == "generic"]
    income = [z[c] for c, r in roles.items() if r == "income"]
    value, means = _level(_mean(spend)), _level(_mean(income))
    title, text = ACTION_GRID[(value, means)]
    recency = _level(_mean([z[c] for c, r in roles.items() if r == "recency"]))
    if recency == "high":
        title, text = LAPSED_ACTIONS[value == "high"]
    ages = [z[c] for c, r in roles.items() if r == "age"]
    age = _level(_mean(ages))
    if age == "low":
        text += " Reach them on mobile and social channels."
    elif age == "high":
        text += " Favour email, direct mail and in-store service."
    return Action(title, text, value, means)
