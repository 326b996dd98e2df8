"""A labelled line chart of training metrics (textual-plotext), readable without colour.

Reference lines (what a good loss is for the corpus: see core/data/references.py) are dotted
horizontal lines with their label written on them, readable without colour; one far outside the
data is left out rather than squash the curves.

Small terminals get their rows back: the series' names and markers go in the title (plotext's
legend covered the top two data rows), and below SMALL_ROWS the axis labels are left out. Step axes
get whole-number ticks."""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

MAX_POINTS = 1500
MARKERS = ("•", "x", "+", "o")  # each series has its own marker, so NO_COLOR still tells them apart
REFERENCE_MARKER = "·"
SMALL_ROWS = 14  # below this height the axis labels are dropped: the data needs the rows
TICK_CELLS = 12  # about one x tick per this many columns


def int_ticks(lo: float, hi: float, most: int) -> list[int]:
    """At most ``most`` round whole numbers (1, 2 or 5 times a power of ten apart) in [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        return []
    most = max(2, most)
    for power in range(0, 19):
        for m in (1, 2, 5):
            step = m * 10**power
            first = math.ceil(lo / step) * step
            if (hi - first) // step + 1 <= most:
                return list(range(int(first), int(hi) + 1, step))
    return []


def reference_lines(references) -> list[tuple[str, float]]:
    """A corpus's reference figures (bits/char) as chart lines in nats/char, labelled with both."""
    if references is None:
        return []
    return [(f"{label} {bpc:.2f} bpc", bpc * math.log(2)) for label, bpc in references.lines()]


def downsample(xs: list, ys: list, limit: int = MAX_POINTS) -> tuple[list, list]:
    if len(xs) <= limit:
        return xs, ys
    step = len(xs) / limit
    idx = sorted({int(i * step) for i in range(limit)} | {len(xs) - 1})
    return [xs[i] for i in idx], [ys[i] for i in idx]


class MetricsChart(PlotextPlot):
    def __init__(self, title: str, ylabel: str, **kw):
        super().__init__(**kw)
        self.title, self.ylabel = title, ylabel
        self._series: dict[str, tuple[list, list]] = {}
        self._xlabel = "step"
        self._title: str | None = None  # the title for the current series, if not the default
        self._drawn: tuple | None = None  # what the last drawing showed: an unchanged chart is not redrawn
        self._references: list[tuple[str, float]] = []  # (label, y) horizontal lines

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def on_resize(self) -> None:
        if self._drawn is not None and self._signature() != self._drawn:
            self._draw()  # the labels and ticks depend on the size

    def set_series(self, series: dict[str, tuple[list, list]], xlabel: str = "step", title: str | None = None) -> None:
        self._series, self._xlabel, self._title = series, xlabel, title
        if self.is_mounted and self._signature() != self._drawn:
            self._draw()

    def set_references(self, lines: list[tuple[str, float]]) -> None:
        """Labelled horizontal lines at these y values (in the chart's own unit)."""
        self._references = list(lines)
        if self.is_mounted and self._signature() != self._drawn:
            self._draw()

    def _signature(self) -> tuple:
        """The series may be lists that grow in place: their lengths and ends say what changed."""
        return (
            self._xlabel,
            self._title,
            self.size,
            tuple(self._references),
            tuple((k, len(xs), len(ys), xs[:1], xs[-1:], ys[-1:]) for k, (xs, ys) in self._series.items()),
        )

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        title = self._title or self.title
        small = self.size.height < SMALL_ROWS
        if not small:
            plt.xlabel(self._xlabel)
            plt.ylabel(self.ylabel)
        names, drawn = [], []
        for i, (label, (xs, ys)) in enumerate(self._series.items()):
            pts = [(x, y) for x, y in zip(xs, ys) if y is not None and y == y and y != float("inf")]
            if not pts:
                continue
            px, py = downsample([p[0] for p in pts], [p[1] for p in pts])
            marker = MARKERS[i % len(MARKERS)]
            drawn.append((px, py, marker))
            names.append(f"{marker} {label}")
        lo = min((px[0] for px, _, _ in drawn), default=math.inf)
        hi = max((px[-1] for px, _, _ in drawn), default=-math.inf)
        if drawn and hi > lo:  # first, so the data is drawn over them
            y_lo = min(min(py) for _, py, _ in drawn)
            y_hi = max(max(py) for _, py, _ in drawn)
            self._draw_references(lo, hi, y_lo, y_hi)
        for px, py, marker in drawn:
            plt.plot(px, py, marker=marker)
        if not names:
            plt.title(f"{title}: waiting for data")
        else:
            plt.title(title if len(names) == 1 and not self._title else f"{title}  " + "  ".join(names))
            if self._xlabel == "step":
                ticks = int_ticks(lo, hi, (self.size.width or 60) // TICK_CELLS)
                if ticks:
                    plt.xticks([float(t) for t in ticks], [f"{t:,}" for t in ticks])
        self._drawn = self._signature()
        self.refresh()

    def _draw_references(self, lo: float, hi: float, y_lo: float, y_hi: float) -> None:
        """Each reference within reach of the data: a dotted line across it, its label on the line
        at the left (a line above the highest point, or far below the lowest, is left out).
        References that would land on the same row share one line and one label ("5-gram 1.45,
        xz 1.41 bpc"): written on one row, the second label overwrote the first."""
        span = max(y_hi - y_lo, 1e-9)
        shown = [
            (label, y)
            for label, y in self._references
            if math.isfinite(y) and y_lo - 0.5 * span <= y <= y_hi + 0.02 * span
        ]
        for label, y in merge_close(shown, min(y_lo, *(y for _, y in shown), y_hi), y_hi, self._plot_rows()):
            self.plt.plot([lo, hi], [y, y], marker=REFERENCE_MARKER, color="gray")
            self.plt.text(label, lo, y, color="gray", alignment="left")

    def _plot_rows(self) -> int:
        """About how many rows the plot area has (the title, the x ticks and, when shown, the x
        label take the rest)."""
        return max(2, (self.size.height or 20) - (2 if self.size.height < SMALL_ROWS else 4))


def merge_close(lines: list[tuple[str, float]], y_min: float, y_max: float, rows: int) -> list[tuple[str, float]]:
    """Lines less than a row apart (y spread over ``rows`` rows) as one line at their mean, with
    their labels joined (the unit said once, at the end)."""
    if not lines:
        return []
    row = max(y_max - y_min, 1e-9) / max(1, rows - 1)
    groups: list[list[tuple[str, float]]] = []
    for label, y in sorted(lines, key=lambda ly: -ly[1]):
        if groups and groups[-1][-1][1] - y < row:
            groups[-1].append((label, y))
        else:
            groups.append([(label, y)])
    out = []
    for g in groups:
        labels = [label.removesuffix(" bpc") for label, _ in g]
        unit = " bpc" if all(label.endswith(" bpc") for label, _ in g) else ""
        out.append((", ".join(labels) + unit, sum(y for _, y in g) / len(g)))
    return out
