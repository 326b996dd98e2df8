"""The ? help screen, built from the key bindings themselves: the app's screen keys with each
screen's HELP line, then every screen's keys (a binding is listed when it has a tooltip; bindings
with the same tooltip share an item, as "[ ] temperature -/+"). A key added to a screen with a
tooltip is in the help; nothing here repeats a key."""

from __future__ import annotations

import importlib

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import key_to_character
from textual.screen import ModalScreen
from textual.widgets import Static

from charlm_tui.tui.widgets.flow import Flow

KEY_SEP = " · "  # between the keys of one screen in the help

FOOTNOTE = (
    "Training keeps running when you change screens. Quitting while training stops the run after "
    "saving its state; resume it later from Runs (r) or 'charlm-tui train --resume ID'."
)
NAMES = {"escape": "esc", "question_mark": "?", "space": "space", "enter": "enter"}


def key_name(key: str) -> str:
    """How a key reads in the help: the character it types, or its name ('ctrl+s', 'F2', 'esc')."""
    if key in NAMES:
        return NAMES[key]
    if key.startswith("f") and key[1:].isdigit():
        return key.upper()
    char = key_to_character(key)
    return char if char is not None and char.isprintable() and len(key) > 1 else key


def _bindings(cls) -> list[Binding]:
    return [b for b in getattr(cls, "BINDINGS", []) if isinstance(b, Binding)]


def key_items(bindings: list[Binding]) -> list[str]:
    """'keys text' for each tooltip, in the order of the bindings: 'ctrl+s start training',
    '[ ] temperature -/+', 'up/down in the prompt: history'."""
    groups: dict[str, list[str]] = {}
    for b in bindings:
        if b.tooltip:
            groups.setdefault(b.tooltip, []).extend(key_name(k.strip()) for k in b.key.split(","))
    items = []
    for text, keys in groups.items():
        sep = " " if all(len(k) == 1 for k in keys) else "/"
        items.append(f"{sep.join(keys)} {text}")
    return items


def screens_help(app_cls) -> list[tuple[str, str, str]]:
    """(keys, name, what it does) for the app's keys that show a screen, then its other keys."""
    bindings = _bindings(app_cls)
    tips = {b.action: b.tooltip for b in bindings if b.tooltip}
    rows: dict[str, list] = {}
    for b in bindings:
        action = _twin(b.action)
        if action.startswith("mode("):
            what = screen_class(app_cls, action[6:-2]).HELP
        elif action in tips:
            what = tips[action]
        else:
            continue
        row = rows.setdefault(action, [[], b.description, what])
        row[0].append(key_name(b.key))
    return [(" / ".join(keys), title, what) for keys, title, what in rows.values()]


TWINS = {"jump(": "mode(", "help_any": "help", "quit_any": "quit"}


def _twin(action: str) -> str:
    """The action a key's twin binding names (F2's jump('corpus') is 2's mode('corpus'))."""
    for twin, name in TWINS.items():
        if action.startswith(twin):
            return name + action[len(twin) :]
    return action


def screen_class(app_cls, name: str):
    """The class of the app's screen ``name`` (lazy screens are imported here)."""
    factory = app_cls.SCREENS[name]
    if isinstance(factory, type):
        return factory
    module, cls = factory.screen_path
    return getattr(importlib.import_module(module), cls)


def keys_help(app_cls) -> list[tuple[str, list[str]]]:
    """(screen title, its key items) for every screen, in the app's order."""
    titles = {b.action[6:-2]: b.description for b in _bindings(app_cls) if b.action.startswith("mode(")}
    out = []
    for name in app_cls.SCREENS:
        cls = screen_class(app_cls, name)
        bindings = _bindings(cls)
        for widget in getattr(cls, "HELP_WIDGETS", ()):  # the keys of an input the screen is used through
            bindings += _bindings(widget)
        out.append((titles.get(name, name), key_items(bindings)))
    return out


def help_renderable(app_cls, home) -> Group:
    """Tables, so that a long description wraps under itself (hanging indent) at 80 columns."""
    screens = Table.grid(padding=(0, 2, 0, 0))
    screens.add_column(no_wrap=True, style="bold")
    screens.add_column(no_wrap=True)
    screens.add_column(ratio=1)
    for row in screens_help(app_cls):
        screens.add_row(*row)
    keys = Table.grid(padding=(0, 2, 0, 0))
    keys.add_column(no_wrap=True, style="bold")
    keys.add_column(ratio=1)
    for screen, items in keys_help(app_cls):
        keys.add_row(screen, Flow(items, sep=KEY_SEP))
    return Group(
        Text("charlm-tui: train character-level language models and play with them", style="bold"),
        Text(),
        Text("Screens (digits when no text box has the focus; F-keys always)"),
        screens,
        Text(),
        Text("Keys"),
        keys,
        Text(),
        Text(f"Data dir: {home}"),
        Text(FOOTNOTE),
    )


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, home) -> None:
        super().__init__()
        self.home = home

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_renderable(type(self.app), self.home))
