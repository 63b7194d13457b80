"""Geometry of the server-rendered SVG charts: pure functions from figures to coordinates,
colours and formatted numbers, which the templates under ``templates/evaluation/partials/``
draw. Labels (model names, pseudonyms) pass through untouched: they are user input, and
Django's autoescaping in the templates is what makes them safe."""

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from evaluation.leaderboard.figures import ELO_BASE, RATING_SCALE

# Diverging colours of the win-rate map: a loss, an even record, a win.
LOSS_RGB = (192, 57, 43)
EVEN_RGB = (247, 247, 247)
WIN_RGB = (36, 87, 197)
NO_GAMES_FILL = "#eef0f4"
DIAGONAL_FILL = "#d0d4dc"
# Labels at 12px: about this many pixels a character, and at most this many characters
# drawn (the whole label stays in the tooltip).
CHAR_PX = 7
LABEL_CHARS = 32


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], about ``count`` of them, stepped by 1, 2,
    2.5 or 5 times a power of ten."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("Ticks need finite bounds.")
    if high < low:
        low, high = high, low
    if high == low:
        low, high = low - 1, high + 1
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks, tick = [], first
    while tick < high + step * 0.999:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def tick_label(value: float) -> str:
    return f"{value:g}"


def short_label(label: str) -> str:
    """The label as drawn: cut to ``LABEL_CHARS`` with an ellipsis."""
    label = str(label)
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def label_space(labels: Sequence[str]) -> int:
    """Pixels for the longest drawn label, plus a margin."""
    longest = max((len(short_label(label)) for label in labels), default=0)
    return 16 + CHAR_PX * max(longest, 3)


def _scale(low: float, high: float, start: float, end: float):
    span = (high - low) or 1.0

    def position(value: float) -> float:
        return round(start + (value - low) / span * (end - start), 2)

    return position


def interval_chart(
    rows: Sequence[dict],
    *,
    value: str,
    lower: str,
    upper: str,
    label: str = "model",
    digits: int = 0,
    width: int = 720,
    label_width: int | None = None,
    row_height: int = 28,
    reference: float | None = None,
    domain: tuple[float, float] | None = None,
) -> dict:
    """A horizontal chart, one row per item in the given order: a dot at ``row[value]``, a bar
    from ``row[lower]`` to ``row[upper]``, on one axis with round ticks below. ``reference``
    draws a dashed line (such as the mean rating of 1000). Rows whose value is None are
    listed without a mark. ``domain`` fixes the axis (a rating scale), else it spans the
    data."""
    known = [r for r in rows if r.get(value) is not None]
    bounds = [r[key] for r in known for key in (value, lower, upper) if r.get(key) is not None]
    if reference is not None:
        bounds.append(reference)
    if domain is not None:
        bounds += list(domain)
    ticks = nice_ticks(min(bounds), max(bounds)) if bounds else [0.0, 1.0]
    low, high = ticks[0], ticks[-1]
    if label_width is None:
        label_width = label_space([r[label] for r in rows])
    plot_left, plot_right = label_width, width - 64
    x = _scale(low, high, plot_left, plot_right)
    top = 8
    items = []
    for index, row in enumerate(rows):
        y = top + index * row_height + row_height / 2
        item = {
            "label": row[label],
            "short": short_label(row[label]),
            "y": y,
            "text_y": y + 4,
            "marked": row.get(value) is not None,
        }
        if item["marked"]:
            low_value = row.get(lower) if row.get(lower) is not None else row[value]
            high_value = row.get(upper) if row.get(upper) is not None else row[value]
            item.update(
                cx=x(row[value]),
                x1=x(low_value),
                x2=x(high_value),
                value_text=f"{row[value]:.{digits}f}",
                interval_text=f"{low_value:.{digits}f} to {high_value:.{digits}f}",
            )
        items.append(item)
    axis_y = top + len(rows) * row_height + 4
    return {
        "width": width,
        "height": axis_y + 28,
        "plot_left": plot_left,
        "plot_right": plot_right,
        "label_x": plot_left - 8,
        "value_x": plot_right + 8,
        "top": top,
        "axis_y": axis_y,
        "tick_label_y": axis_y + 16,
        "rows": items,
        "ticks": [{"x": x(t), "label": tick_label(t)} for t in ticks],
        "reference_x": None if reference is None else x(reference),
    }


def rating_chart(rows: Sequence[dict]) -> dict:
    """Mean ratings with their intervals, on the whole rating scale."""
    return interval_chart(
        rows,
        value="mean",
        lower="lower",
        upper="upper",
        digits=2,
        domain=(RATING_SCALE[0], RATING_SCALE[-1]),
    )


def bradley_terry_chart(rows: Sequence[dict]) -> dict:
    """Bradley–Terry ratings with their intervals, around the mean rating."""
    return interval_chart(rows, value="rating", lower="lower", upper="upper", reference=ELO_BASE)


def win_rate_interval(result: dict) -> dict | None:
    """Where to draw a round's win rate and its interval on a 0–100% axis 400 units wide;
    ``None`` before it has one."""
    if result["win_rate"] is None:
        return None
    scale = 400
    return {
        "x": round(result["win_rate"] * scale, 1),
        "low": round(result["lower"] * scale, 1),
        "high": round(result["upper"] * scale, 1),
        "width": scale,
        "middle": scale / 2,
    }


def _mix(start: tuple[int, int, int], end: tuple[int, int, int], share: float) -> str:
    red, green, blue = (round(a + (b - a) * share) for a, b in zip(start, end, strict=True))
    return f"rgb({red}, {green}, {blue})"


def rate_colour(rate: float) -> tuple[str, str]:
    """The fill for a win rate (red below one half, blue above) and a text colour that reads
    on it."""
    if rate < 0.5:
        fill = _mix(LOSS_RGB, EVEN_RGB, rate / 0.5)
    else:
        fill = _mix(EVEN_RGB, WIN_RGB, (rate - 0.5) / 0.5)
    return fill, "#fff" if abs(rate - 0.5) > 0.3 else "#1d2330"


def heatmap(
    models: Sequence[str],
    rate: Sequence[Sequence[float | None]],
    games: Sequence[Sequence[int]],
    ties: Sequence[Sequence[int]],
    *,
    cell: int = 52,
    label_width: int | None = None,
    header_height: int | None = None,
) -> dict:
    """The win-rate matrix as a grid: the cell in row i, column j is the share of i's games
    against j that i won (ties as half), its colour from red to blue, its value written in
    it; pairs that never met are grey with a dash, the diagonal is blank. Column labels are
    slanted at 40 degrees: the header needs about two thirds of their length, and the right
    margin four fifths."""
    if label_width is None:
        label_width = label_space(models)
    if header_height is None:
        header_height = 12 + round(label_space(models) * 0.65)
    cells = []
    for i, row_model in enumerate(models):
        for j, column_model in enumerate(models):
            x, y = label_width + j * cell, header_height + i * cell
            item: dict = {"x": x, "y": y, "text_x": x + cell / 2, "text_y": y + cell / 2 + 4}
            won = rate[i][j]
            if i == j:
                item.update(fill=DIAGONAL_FILL, text="", text_fill="#1d2330", title="")
            elif not games[i][j] or won is None:
                item.update(
                    fill=NO_GAMES_FILL,
                    text="–",
                    text_fill="#5b6474",
                    title=f"{row_model} and {column_model} never met",
                )
            else:
                fill, text_fill = rate_colour(won)
                item.update(
                    fill=fill,
                    text=f"{won:.2f}",
                    text_fill=text_fill,
                    title=(
                        f"{row_model} against {column_model}: won {won:.0%} of "
                        f"{games[i][j]} games ({ties[i][j]} tied)"
                    ),
                )
            cells.append(item)
    size = len(models) * cell
    return {
        # The slanted column labels reach right past the last column.
        "width": label_width + size + round(label_space(models) * 0.8),
        "height": header_height + size + 8,
        "cell": cell,
        "cells": cells,
        "row_labels": [
            {
                "label": m,
                "short": short_label(m),
                "x": label_width - 8,
                "y": header_height + i * cell + cell / 2 + 4,
            }
            for i, m in enumerate(models)
        ],
        "column_labels": [
            {
                "label": m,
                "short": short_label(m),
                "x": label_width + j * cell + cell / 2,
                "y": header_height - 8,
            }
            for j, m in enumerate(models)
        ],
    }


def line_chart(
    points: Sequence[dict],
    *,
    x: str = "start",
    y: str = "agreement",
    n: str = "judgments",
    y_domain: tuple[float, float] = (0.0, 1.0),
    width: int = 720,
    height: int = 240,
    max_x_ticks: int = 6,
) -> dict:
    """A line through the per-window figures (``point[x]`` an ISO time, ``point[y]`` a value
    in ``y_domain``), a dot per window with its count in the tooltip, dates below, values at
    the left. Windows whose value is None are skipped."""
    known = [p for p in points if p.get(y) is not None]
    times = [datetime.fromisoformat(p[x].replace("Z", "+00:00")).timestamp() for p in known]
    plot_left, plot_right, plot_top, plot_bottom = 48, width - 16, 12, height - 36
    first, last = (min(times), max(times)) if times else (0.0, 1.0)
    if first == last:
        first, last = first - 1, last + 1
    to_x = _scale(first, last, plot_left, plot_right)
    to_y = _scale(y_domain[0], y_domain[1], plot_bottom, plot_top)
    dots = [
        {
            "x": to_x(t),
            "y": to_y(p[y]),
            "title": f"{_date(t)}: {p[y]:.2f} over {p[n]} judgment{'s' if p[n] != 1 else ''}",
        }
        for t, p in zip(times, known, strict=True)
    ]
    stride = max(1, math.ceil(len(times) / max_x_ticks))
    return {
        "width": width,
        "height": height,
        "plot_left": plot_left,
        "plot_right": plot_right,
        "plot_top": plot_top,
        "plot_bottom": plot_bottom,
        "y_label_x": plot_left - 6,
        "x_label_y": plot_bottom + 18,
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "x_ticks": [{"x": to_x(t), "label": _date(t)} for t in times[::stride]],
        "y_ticks": [
            {"y": to_y(t), "text_y": to_y(t) + 4, "label": tick_label(t)}
            for t in nice_ticks(*y_domain, count=4)
        ],
    }


def _date(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def histogram(
    counts: Sequence[int],
    values: Sequence[object] = (1, 2, 3, 4, 5),
    *,
    width: int = 100,
    height: int = 32,
) -> dict:
    """A small bar chart of a rating distribution: one bar per scale value, heights relative
    to the tallest, the value and count in each bar's tooltip."""
    tallest = max(counts) if counts else 0
    slot = width / max(len(counts), 1)
    total = sum(counts)
    bars = []
    for index, (count, scale_value) in enumerate(zip(counts, values, strict=True)):
        bar_height = round((height - 2) * count / tallest, 2) if tallest else 0
        share = f" ({count / total:.0%})" if total else ""
        bars.append(
            {
                "x": round(index * slot + 1, 2),
                "y": round(height - bar_height, 2),
                "width": round(slot - 2, 2),
                "height": bar_height,
                "title": f"{scale_value}: {count}{share}",
            }
        )
    return {"width": width, "height": height, "bars": bars}
