"""A labelled line chart of training metrics (textual-plotext), readable without colour."""

from __future__ import annotations

from textual_plotext import PlotextPlot

MAX_POINTS = 1500
MARKERS = ("•", "x", "+", "o")  # each series has its own marker, so NO_COLOR still tells them apart


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
        self._xlabel, self._title = "step", None  # the title for the current series, if not the default

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def set_series(self, series: dict[str, tuple[list, list]], xlabel: str = "step", title: str | None = None) -> None:
        self._series, self._xlabel, self._title = series, xlabel, title
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        title = self._title or self.title
        plt.title(title)
        plt.xlabel(self._xlabel)
        plt.ylabel(self.ylabel)
        drawn = False
        for i, (label, (xs, ys)) in enumerate(self._series.items()):
            pts = [(x, y) for x, y in zip(xs, ys) if y is not None and y == y and y != float("inf")]
            if not pts:
                continue
            px, py = downsample([p[0] for p in pts], [p[1] for p in pts])
            marker = MARKERS[i % len(MARKERS)]
            plt.plot(px, py, label=f"{label} {marker}", marker=marker)
            drawn = True
        if not drawn:
            plt.title(f"{title}: waiting for data")
        self.refresh()
