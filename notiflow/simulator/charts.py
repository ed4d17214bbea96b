"""Small inline-SVG charts for the realism report (no plotting dependency to install)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def bar_chart(
    labels: list[str],
    values: list[float],
    *,
    title: str,
    value_format: str = "{:.1%}",
    errors: list[tuple[float, float]] | None = None,
) -> str:
    """Vertical bars, one per label; ``errors`` draws (low, high) whiskers."""
    top = max([*values, *(hi for _, hi in errors or [])], default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    parts = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + i * slot + slot * 0.15
        h = plot_h * value / top
        y = TOP + plot_h - h
        shown = value_format.format(value)
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {shown}</title></rect>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" font-size="10" text-anchor="middle">'
            f"{shown}</text>"
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
        if errors:
            lo, hi = (TOP + plot_h - plot_h * e / top for e in errors[i])
            cx = x + slot * 0.35
            parts.append(
                f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{lo:.1f}" y2="{hi:.1f}" stroke="#333"/>'
            )
    return _frame(title, "".join(parts), y_max=top, value_format=value_format)


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    value_format: str = "{:.1%}",
) -> str:
    """One polyline per series of (x, y) points, with a legend."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        return _frame(title, "", y_max=1.0, value_format=value_format)
    x_min, x_max = min(p[0] for p in points), max(p[0] for p in points)
    top = max(p[1] for p in points) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (x_max - x_min) or 1.0

    def xy(x: float, y: float) -> str:
        return f"{LEFT + plot_w * (x - x_min) / span:.1f},{TOP + plot_h * (1 - y / top):.1f}"

    parts = []
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(xy(x, y) for x, y in pts)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts.append(
            f'<text x="{LEFT + 8 + 90 * i}" y="{TOP + 12}" font-size="11" fill="{color}">'
            f"{escape(name)}</text>"
        )
    for x in _ticks(x_min, x_max):
        parts.append(
            f'<text x="{LEFT + plot_w * (x - x_min) / span:.1f}" y="{HEIGHT - BOTTOM + 14}" '
            f'font-size="10" text-anchor="middle">{x:g}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 6}" font-size="11" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    return _frame(title, "".join(parts), y_max=top, value_format=value_format)


def _frame(title: str, body: str, *, y_max: float, value_format: str) -> str:
    plot_h = HEIGHT - TOP - BOTTOM
    grid = "".join(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h * (1 - f):.1f}" '
        f'y2="{TOP + plot_h * (1 - f):.1f}" stroke="#ddd"/>'
        f'<text x="{LEFT - 4}" y="{TOP + plot_h * (1 - f) + 3:.1f}" font-size="10" '
        f'text-anchor="end">{value_format.format(y_max * f)}</text>'
        for f in (0.0, 0.25, 0.5, 0.75, 1.0)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">'
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>'
        f"{grid}{body}</svg>"
    )


def _ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    step = max(1.0, round((hi - lo) / (count - 1)))
    ticks, x = [], lo
    while x <= hi + 1e-9:
        ticks.append(x)
        x += step
    return ticks
