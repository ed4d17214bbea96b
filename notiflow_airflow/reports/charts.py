"""What the report pages share: numbers as shown, channels in order, inline-SVG primitives.

The charts are SVG built on the server (the pages need no JavaScript and the
Content-Security-Policy stays strict); every text from a file is escaped here. Each
report module lays out its own charts (:mod:`~notiflow_airflow.reports.plans` by day,
:mod:`~notiflow_airflow.reports.models` prediction against label) from these pieces.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

from markupsafe import Markup, escape

from notiflow import domain

# A channel has the same colour on every chart.
CHANNEL_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1")


def number(value: Any) -> float | None:
    """``value`` when it is a finite number (JSON allows NaN; a bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def format_number(value: Any, digits: int = 0, signed: bool = False, scale: float = 1) -> str:
    """The Jinja ``num`` filter: ``value * scale``, thousands separated; a dash for nothing,
    an odd value as it is."""
    n = number(value)
    if n is None:
        return "—" if value is None else str(value)
    return f"{n * scale:{'+' if signed else ''},.{digits}f}"


def format_percent(value: Any, digits: int = 1, signed: bool = False, unit: str = "%") -> str:
    """The Jinja ``pct`` filter: a share (or a difference of shares) in percent."""
    text = format_number(value, digits, signed, scale=100)
    return text + unit if number(value) is not None else text


def channel_order(channels: Iterable[str]) -> list[str]:
    """The domain's channels first, in its order, then any other, sorted."""
    channels = set(channels)
    known = [c for c in domain.CHANNELS if c in channels]
    return known + sorted(channels - set(known))


def channel_colors(channels: Iterable[str]) -> dict[str, str]:
    ordered = channel_order(channels)
    return {c: CHANNEL_COLORS[k % len(CHANNEL_COLORS)] for k, c in enumerate(ordered)}


def nice_top(top: float) -> tuple[float, float]:
    """(axis top, tick step): about four round steps covering ``top``."""
    if top <= 0:
        return 1.0, 0.25
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return math.ceil(top / step - 1e-9) * step, step


class Area(Protocol):
    """A chart's size and its plot area's left edge, in pixels."""

    width: int
    height: int
    left: int


class Frame(Area, Protocol):
    """A chart whose plot area's y axis runs from 0 to ``top`` in ticks of ``step``."""

    right: int
    top: float
    step: float

    def y(self, value: float) -> float: ...


def step_digits(step: float) -> int:
    """The decimals that show multiples of a tick ``step`` exactly (0.25: 2)."""
    return next((d for d in range(10) if abs(round(step, d) - step) < 1e-12), 10)


def y_grid(frame: Frame) -> list[str]:
    """The horizontal grid lines and their tick labels, 0 to ``frame.top``."""
    digits = step_digits(frame.step)
    parts = []
    for k in range(round(frame.top / frame.step) + 1):
        value = k * frame.step
        y = frame.y(value)
        parts.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{value:,.{digits}f}</text>"
        )
    return parts


def legend(area: Area, entries: list[tuple[str, str]]) -> list[str]:
    """(label, colour) swatches in a row above the plot area."""
    parts, x = [], area.left
    for label, color in entries:
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{color}"/>'
            f'<text class="legend" x="{x + 16}" y="18">{escape(label)}</text>'
        )
        x += 16 + 7 * len(label) + 18
    return parts


def svg(chart_id: str, title: str, area: Area, parts: list[str]) -> Markup:
    return Markup(
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {area.width} {area.height}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


def tip(text: str) -> str:
    """A hover text (an SVG ``<title>``): the exact value without JavaScript."""
    return f"<title>{escape(text)}</title>"


def point(x: float, y: float, color: str, css: str, text: str, r: float = 4) -> str:
    return (
        f'<circle class="mark {css}" cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}">'
        f"{tip(text)}</circle>"
    )


def bar(x: float, width: float, y0: float, y1: float, color: str, css: str, text: str) -> str:
    """A bar of ``width`` centred on ``x`` from y0 (below) up to y1, in pixels."""
    return (
        f'<rect class="mark {css}" x="{x - width / 2:.1f}" y="{y1:.1f}" width="{width:.1f}" '
        f'height="{y0 - y1:.1f}" fill="{color}">{tip(text)}</rect>'
    )


def segment(x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def path(points: list[tuple[float, float]], color: str, css: str) -> str:
    """A line through ``points`` (pixels), or nothing for fewer than two."""
    if len(points) < 2:
        return ""
    d = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(points))
    return f'<path class="line {css}" d="{d}" fill="none" stroke="{color}"/>'
