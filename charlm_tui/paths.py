"""Where charlm-tui keeps its files.

The data dir is ``CHARLM_TUI_HOME`` when set, else the platformdirs user data dir
for ``charlm-tui``. Everything a user owns lives below it:

    <home>/runs/<run-id>/   one folder per training run
    <home>/corpora/         corpora the user added (files dropped here are listed too)
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "charlm-tui"
HOME_ENV = "CHARLM_TUI_HOME"


def data_home(override: str | os.PathLike[str] | None = None) -> Path:
    """The data dir: ``override`` (the ``--home`` option), else $CHARLM_TUI_HOME, else platformdirs."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def runs_dir(home: Path) -> Path:
    return home / "runs"


def user_corpora_dir(home: Path) -> Path:
    return home / "corpora"
