"""Success and precision plots in the style of the LaSOT / OTB toolkits (PNG, no display needed).

Figures are drawn on a bare Agg canvas, so nothing touches matplotlib's global backend.
The legend lists trackers best first with their score in brackets, as the LaSOT plots do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dmtrack_core.evaluation.metrics import (
    NORM_PRECISION_THRESHOLDS,
    PRECISION_THRESHOLDS,
    SUCCESS_THRESHOLDS,
    CurveScores,
)


def _plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray, float]],
    path: str | Path,
    title: str,
    xlabel: str,
    ylabel: str,
    marker_x: float | None = None,
) -> Path:
    figure = Figure(figsize=(6.0, 4.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    ranked = sorted(curves.items(), key=lambda item: -item[1][2])
    for rank, (name, (xs, ys, score)) in enumerate(ranked):
        style = "-" if rank < 5 else "--"
        axes.plot(xs, ys, style, linewidth=2.0 if rank == 0 else 1.5, label=f"[{score:.3f}] {name}")
    if marker_x is not None:
        axes.axvline(marker_x, color="0.7", linewidth=0.8, zorder=0)
    axes.set_xlim(
        float(min(xs.min() for xs, _, _ in curves.values())),
        float(max(xs.max() for xs, _, _ in curves.values())),
    )
    axes.set_ylim(0.0, 1.01)  # a curve at 1.0 stays visible above the frame line
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, linestyle=":", linewidth=0.6)
    axes.legend(loc="lower left" if "Success" in title else "lower right", fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def plot_success(scores: dict[str, CurveScores], path: str | Path, suite: str = "") -> Path:
    curves = {name: (SUCCESS_THRESHOLDS, s.success, s.auc) for name, s in scores.items()}
    title = f"Success plots of OPE{f' on {suite}' if suite else ''}"
    return _plot(curves, path, title, "Overlap threshold", "Success rate")


def plot_precision(scores: dict[str, CurveScores], path: str | Path, suite: str = "") -> Path:
    curves = {name: (PRECISION_THRESHOLDS, s.precision, s.precision_at_20) for name, s in scores.items()}
    title = f"Precision plots of OPE{f' on {suite}' if suite else ''}"
    return _plot(curves, path, title, "Location error threshold (px)", "Precision", marker_x=20.0)


def plot_norm_precision(scores: dict[str, CurveScores], path: str | Path, suite: str = "") -> Path:
    curves = {
        name: (NORM_PRECISION_THRESHOLDS, s.norm_precision, s.norm_precision_at_020)
        for name, s in scores.items()
    }
    title = f"Normalized precision plots of OPE{f' on {suite}' if suite else ''}"
    return _plot(curves, path, title, "Normalized location error threshold", "Precision", marker_x=0.2)
