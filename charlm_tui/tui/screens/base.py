"""The base of the app's screens: ``self.app`` typed as CharLMApp (the checker sees its
controllers), and each screen's one-line description for the help."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.screen import Screen

if TYPE_CHECKING:
    from textual import getters

    from charlm_tui.tui.app import CharLMApp


class AppScreen(Screen):
    HELP: ClassVar[str] = ""  # what the screen is for, in the help

    if TYPE_CHECKING:  # Textual's way to type self.app (at run time it stays Textual's own property)
        app = getters.app(CharLMApp)
