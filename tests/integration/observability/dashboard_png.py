"""Draw the Grafana dashboard's panels with the series a real Prometheus returned for their queries
(Grafana itself cannot run here): the picture in docs/metrics.md. Layout from each panel's gridPos."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Series:
    legend: str
    points: list[tuple[float, float]]  # (unix time, value)


@dataclass
class Panel:
    title: str
    kind: str  # timeseries | stat | table | row
    grid: dict[str, int]
    unit: str | None = None
    series: list[Series] = field(default_factory=list)


def legend(fmt: str | None, labels: dict[str, str]) -> str:
    if not fmt:
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__") or "value"
    out = fmt
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v)
    return out


def series_of(matrix: list[dict[str, Any]], fmt: str | None) -> list[Series]:
    return [
        Series(legend(fmt, m["metric"]), [(float(t), float(v)) for t, v in m["values"]])
        for m in matrix
        if m.get("values")
    ]


def _fmt(value: float, unit: str | None) -> str:
    if math.isnan(value):
        return "NaN"
    if unit == "percentunit":
        return f"{value:.0%}"
    if unit == "s":
        return f"{value:.0f} s"
    if abs(value) >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:.3g}"


def render(panels: list[Panel], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = max(p.grid["y"] + p.grid["h"] for p in panels)
    unit_px = 0.42  # inches per grid row
    fig = plt.figure(figsize=(24 * 0.75, rows * unit_px + 0.8), facecolor="#111217")
    fig.suptitle(title, color="#d8d9da", fontsize=14, x=0.01, ha="left", y=0.998)
    top = 1 - 0.5 / (rows * unit_px + 0.8)

    def box(g: dict[str, int]) -> list[float]:
        pad_x, pad_y = 0.004, 0.012 * 40 / rows
        h_total = top
        return [
            g["x"] / 24 + pad_x + 0.02,
            h_total - (g["y"] + g["h"]) / rows * h_total + pad_y,
            g["w"] / 24 - 2 * pad_x - 0.02,
            g["h"] / rows * h_total - 2.6 * pad_y,
        ]

    for p in panels:
        if p.kind == "row":
            fig.text(0.01, top - (p.grid["y"] + 0.7) / rows * top, p.title, color="#d8d9da", fontsize=12)
            continue
        ax = fig.add_axes(box(p.grid), facecolor="#181b1f")
        ax.set_title(p.title, color="#d8d9da", fontsize=9, loc="left")
        for s in ax.spines.values():
            s.set_color("#2c3235")
        ax.tick_params(colors="#8e8e8e", labelsize=7)
        if p.kind == "stat":
            ax.set_xticks([])
            ax.set_yticks([])
            texts = [f"{s.legend}: {_fmt(s.points[-1][1], p.unit)}" for s in p.series if s.points]
            ax.text(
                0.5,
                0.5,
                "\n".join(texts) or "no data",
                color="#73bf69",
                fontsize=13,
                ha="center",
                va="center",
            )
            continue
        if p.kind == "table":
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(
                0.03,
                0.9,
                "\n".join(s.legend for s in p.series) or "no data",
                color="#d8d9da",
                fontsize=7,
                va="top",
            )
            continue
        for s in p.series:
            xs = [datetime.fromtimestamp(t, UTC) for t, _ in s.points]
            ax.plot(xs, [v for _, v in s.points], linewidth=1.2, label=s.legend[:40])
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if p.unit == "percentunit":
            ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.grid(color="#2c3235", linewidth=0.5)
        if p.series:
            ax.legend(
                fontsize=6, loc="upper left", facecolor="#181b1f", labelcolor="#d8d9da", edgecolor="#2c3235"
            )
        else:
            ax.text(0.5, 0.5, "no data", color="#8e8e8e", ha="center", va="center", transform=ax.transAxes)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72, facecolor=fig.get_facecolor())
    plt.close(fig)
