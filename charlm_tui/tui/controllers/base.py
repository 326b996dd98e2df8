"""What every controller shares: the app, and telling a screen something by message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from charlm_tui.tui.app import CharLMApp


class Controller:
    def __init__(self, app: CharLMApp):
        self.app = app

    def tell(self, screen_name: str, message: Message, only_if_shown: bool = False) -> bool:
        """Post ``message`` to the named screen if it is mounted (and, with ``only_if_shown``, on
        screen: a hidden screen redraws from the state when it is shown again)."""
        try:
            screen = self.app.get_screen(screen_name)
        except KeyError:  # not installed (any more): a worker's late message while the app closes
            return False
        if not screen.is_mounted or (only_if_shown and self.app.screen is not screen):
            return False
        screen.post_message(message)
        return True
