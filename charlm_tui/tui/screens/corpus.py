"""Pick a corpus: the catalog (built-in and the user corpora dir), stats and a preview, and an
input to add a file, folder glob or URL."""

from __future__ import annotations

import math

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from charlm_tui.formatting import printable
from charlm_tui.tui.messages import CorpusAdded, CorpusFailed, CorpusLoading, CorpusShown
from charlm_tui.tui.screens.base import AppScreen
from charlm_tui.tui.widgets.history_input import SteadyInput
from charlm_tui.tui.widgets.path_suggester import PathSuggester


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def stats_text(corpus, val_fraction: float = 0.1, references=None, computing: bool = True) -> Text:
    """The stats pane; ``references``: the corpus's reference figures (None: computing them, or,
    with ``computing`` False, none to be had)."""
    s = corpus.stats
    tr, va = corpus.split_sizes(val_fraction)
    t = Text()
    t.append(f"{printable(corpus.name)}\n", style="bold")
    t.append(f"source   {printable(corpus.source)}\n")
    rows = [
        ("size", human_bytes(corpus.n_bytes)),
        ("chars", f"{s.chars:,}"),
        ("lines", f"{s.lines:,}"),
        ("vocab", f"{corpus.vocab.size} ({s.distinct} chars + <unk>)"),
        ("split", f"train {tr:,} / val {va:,}"),
        ("sha256", corpus.sha256[:16]),
    ]
    for k, v in rows:
        t.append(f"{k:<9}{v}\n")
    # what a good loss is here: validation bits/char of simple models, the ones a model must beat
    uniform = math.log2(corpus.vocab.size)
    if references is not None:
        (_, _), (_, unigram), (ngram, ngram_bpc), (_, xz) = references.lines()
        t.append(f"{'uniform':<9}{uniform:.2f} · unigram {unigram:.2f} bits/char\n")
        t.append(f"{ngram:<9}{ngram_bpc:.2f} · xz {xz:.2f} bits/char\n")
    else:
        t.append(f"{'uniform':<9}{uniform:.2f} bits/char (ppl {corpus.baseline_ppl:.0f})\n")
        if computing:
            t.append(f"{'':<9}n-gram and xz figures: computing…\n")
    rare = " ".join(f"{c!r}x{n}" for c, n in s.rare[:6])
    t.append(f"rarest   {rare}\n")
    if s.rare_warning:
        t.append(f"warning  {s.rare_warning}\n", style="bold")
    return t


def row_name(name: str, width: int = 17) -> str:
    """A corpus name cut to ``width`` characters: a path or URL keeps its end (the file's name),
    anything else its start."""
    name = printable(name)
    if len(name) <= width:
        return name
    if "/" in name or "\\" in name:
        return "…" + name[-(width - 1) :]
    return name[: width - 1] + "…"


class CorpusScreen(AppScreen):
    HELP = "pick a built-in corpus, one of yours, or add a file / folder glob / URL"

    BINDINGS = [
        Binding("enter", "use_corpus", "Configure", tooltip="configure"),
        Binding("a", "focus_add", "Add file/URL", tooltip="add a file/folder/URL"),
        Binding("r", "refresh", "Refresh", tooltip="refresh"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="corpus-main"):
            with Vertical(id="corpus-left"):
                yield Static("Corpora", classes="pane-title")
                yield OptionList(id="corpus-list")
                yield SteadyInput(placeholder="add: file, dir/*.txt or URL", id="corpus-add", suggester=PathSuggester())
            with Vertical(id="corpus-right"):
                yield Static("loading…", id="corpus-stats")
                yield Static("Preview", classes="pane-title")
                with VerticalScroll(id="corpus-preview-scroll"):
                    yield Static("", id="corpus-preview", markup=False)
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it; ? says so

    def on_mount(self) -> None:
        self.call_after_refresh(self.action_refresh)  # paint first, then list and load

    def action_refresh(self) -> None:
        ol = self.query_one("#corpus-list", OptionList)
        ol.clear_options()
        entries = self.app.corpora.entries()
        for e in entries:
            label = Text()  # one line per corpus: a long name is cut (the stats pane shows it whole)
            label.append(f"{row_name(e.name):<17}", style="bold")
            size = e.file_size()
            label.append(f" {e.kind:<8} {human_bytes(size) if size is not None else '':>9}")
            ol.add_option(Option(label, id=e.name))
        names = [e.name for e in entries]
        picked = self.app.corpora.spec
        want = picked if picked in names else (names[0] if names else None)
        if want is not None:
            ol.highlighted = names.index(want)
            self.app.corpora.select(want)
        ol.focus()

    @on(OptionList.OptionHighlighted, "#corpus-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.app.corpora.spec:
            self.app.corpora.select(event.option.id)

    @on(OptionList.OptionSelected, "#corpus-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_use_corpus()

    # ------------------------------------------------------------- told by the corpus picker
    def on_corpus_loading(self, msg: CorpusLoading) -> None:
        self.query_one("#corpus-stats", Static).update(Text(printable(f"{msg.spec}\nloading… {msg.detail}")))
        if not msg.detail:
            self.query_one("#corpus-preview", Static).update("")

    def on_corpus_shown(self, msg: CorpusShown) -> None:
        corpus = msg.corpus
        val_fraction = self.app.training.config.val_fraction
        refs = self.app.corpora.references(corpus)
        pending = self.app.corpora.references_pending(corpus)
        self.query_one("#corpus-stats", Static).update(stats_text(corpus, val_fraction, refs, pending))
        self.query_one("#corpus-preview", Static).update(printable(corpus.stats.preview, tab_size=8))

    def on_corpus_failed(self, msg: CorpusFailed) -> None:
        self.query_one("#corpus-stats", Static).update(Text(printable(f"{msg.spec}\nunusable: {msg.error}")))

    def on_corpus_added(self, msg: CorpusAdded) -> None:
        self.query_one("#corpus-add", Input).value = ""
        self.query_one("#corpus-list", OptionList).focus()
        self.action_refresh()

    def action_use_corpus(self) -> None:
        if self.app.corpora.corpus is None:
            self.notify("Wait for the corpus to load, or pick another one.", severity="warning")
            return
        self.app.switch_mode("configure")

    def action_focus_add(self) -> None:
        self.query_one("#corpus-add", Input).focus()

    @on(Input.Submitted, "#corpus-add")
    def _add(self, event: Input.Submitted) -> None:
        spec = event.value.strip()
        if spec:  # the text stays until it is added, so a typo can be fixed in place
            self.app.corpora.add(spec)
