"""Expectation suites, one factory per gated table.

Each expectation carries its severity (critical fails the gate and stops
downstream work; warning is reported only) and a note saying what breaks
downstream if it fails.
"""

from __future__ import annotations

from collections.abc import Callable

import great_expectations as gx
from great_expectations.core import ExpectationSuite

ENGAGEMENT_EXAMPLES_SUITE = "ml_engagement_examples"
CHANNELS = ["push", "email", "in_app"]


def _critical(expectation_cls: type, notes: str, **kwargs: object) -> object:
    return expectation_cls(severity="critical", notes=notes, **kwargs)


def _warning(expectation_cls: type, notes: str, **kwargs: object) -> object:
    return expectation_cls(severity="warning", notes=notes, **kwargs)


def engagement_examples_suite() -> ExpectationSuite:
    """Gate between the engagement-examples mart and model training (one day's rows)."""
    e = gx.expectations
    expectations = [
        _critical(
            e.ExpectTableRowCountToBeBetween,
            "An empty day means the load failed; training would silently drop a day.",
            min_value=1,
        ),
        _critical(
            e.ExpectColumnValuesToBeUnique,
            "Duplicate notifications double-count examples and bias the model.",
            column="notification_id",
        ),
        _critical(
            e.ExpectColumnValuesToNotBeNull,
            "A missing label cannot be trained on.",
            column="opened_24h",
        ),
        _critical(
            e.ExpectColumnValuesToBeInSet,
            "The label is binary; anything else corrupts the loss.",
            column="opened_24h",
            value_set=[0, 1],
        ),
        _critical(
            e.ExpectColumnValuesToBeInSet,
            "An unknown channel gets no embedding and no channel policy.",
            column="channel",
            value_set=CHANNELS,
        ),
        _critical(
            e.ExpectColumnValuesToBeBetween,
            "Propensities are probabilities; off-policy evaluation divides by them.",
            column="propensity",
            min_value=0.0,
            max_value=1.0,
            strict_min=True,
        ),
        _critical(
            e.ExpectColumnValuesToBeBetween,
            "Send hour is a model feature; values outside a day mean broken time zones.",
            column="local_send_hour",
            min_value=0,
            max_value=23,
        ),
        _critical(
            e.ExpectColumnValuesToBeBetween,
            "Smoothed open rates are probabilities.",
            column="user_open_rate_28d",
            min_value=0.0,
            max_value=1.0,
        ),
        _warning(
            e.ExpectColumnMeanToBeBetween,
            "An open rate far outside the usual range points at a logging change.",
            column="opened_24h",
            min_value=0.01,
            max_value=0.6,
        ),
    ]
    return ExpectationSuite(name=ENGAGEMENT_EXAMPLES_SUITE, expectations=expectations)


# Gated table → (suite factory, schema.table in the warehouse).
SUITES: dict[str, tuple[Callable[[], ExpectationSuite], str]] = {
    ENGAGEMENT_EXAMPLES_SUITE: (engagement_examples_suite, "marts.ml_engagement_examples"),
}
