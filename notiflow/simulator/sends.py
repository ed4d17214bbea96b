"""Notifications as the world handles them: sends with their items, and outcome events.

Both are columnar (one numpy array per field) so that a day's notifications are
drawn, filtered and logged without a Python loop per send.
"""

from __future__ import annotations

import dataclasses
from typing import Self

import numpy as np

from notiflow.simulator.world import CHANNELS, EMAIL

# A send carries up to domain.EMAIL_DIGEST_ITEMS items (an email digest); push and in-app
# carry one. NO_ITEM pads the unused positions.
NO_ITEM = -1
NOTIFICATION_TYPES = {
    c: "digest" if i == EMAIL else "pin_recommendation" for i, c in enumerate(CHANNELS)
}
NOTIFICATION_EVENT_TYPES = ("delivered", "open", "click", "dismiss", "unsubscribe")
DELIVERED, OPEN, CLICK, DISMISS, UNSUBSCRIBE = range(len(NOTIFICATION_EVENT_TYPES))


class Columns:
    """Row selection and concatenation for a dataclass of equally long arrays."""

    def __len__(self) -> int:
        return len(getattr(self, dataclasses.fields(self)[0].name))

    def take(self, rows: np.ndarray) -> Self:
        return dataclasses.replace(
            self, **{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)}
        )

    @classmethod
    def concat(cls, parts: list[Self]) -> Self:
        return cls(
            **{
                f.name: np.concatenate([getattr(p, f.name) for p in parts])
                for f in dataclasses.fields(cls)
            }
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Sends(Columns):
    """Notifications sent on one day, one row each.

    ``items`` holds catalog indices, one column per position (1 first), padded with
    :data:`NO_ITEM` after a notification's last item.
    """

    notification_id: np.ndarray
    user_idx: np.ndarray
    channel: np.ndarray
    sent_s: np.ndarray
    policy: np.ndarray
    propensity: np.ndarray
    items: np.ndarray

    @classmethod
    def concat(cls, parts: list[Sends]) -> Sends:
        width = max(p.items.shape[1] for p in parts)
        padded = [
            dataclasses.replace(
                p,
                items=np.pad(
                    p.items, ((0, 0), (0, width - p.items.shape[1])), constant_values=NO_ITEM
                ),
            )
            for p in parts
        ]
        return super().concat(padded)

    @property
    def n_items(self) -> np.ndarray:
        return (self.items != NO_ITEM).sum(axis=1)


@dataclasses.dataclass(frozen=True, eq=False)
class NotificationEvents(Columns):
    """Outcome events of notifications; ``position`` is 0 for events not about one item,
    ``pin_idx`` the item an open leads to (the top one) or a click is on."""

    notification_id: np.ndarray
    user_idx: np.ndarray
    channel: np.ndarray
    event_type: np.ndarray
    position: np.ndarray
    pin_idx: np.ndarray
    ts: np.ndarray

    @classmethod
    def empty(cls) -> NotificationEvents:
        return cls(
            notification_id=np.array([], dtype=object),
            **{
                name: np.array([], dtype=np.int64)
                for name in ("user_idx", "channel", "event_type", "position", "pin_idx", "ts")
            },
        )
