"""Completes file system paths in an Input (Tab or Right accepts the suggestion)."""

from __future__ import annotations

import os

from textual.suggester import Suggester


class PathSuggester(Suggester):
    def __init__(self):
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.startswith(("http://", "https://")):
            return None
        expanded = os.path.expanduser(value)
        folder, prefix = os.path.split(expanded)
        try:
            names = sorted(n for n in os.listdir(folder or ".") if n.startswith(prefix) and not n.startswith("."))
        except OSError:
            return None
        if not names:
            return None
        name = names[0]
        full = os.path.join(folder, name)
        if os.path.isdir(full):
            name += os.sep
        return value + name[len(prefix) :]
