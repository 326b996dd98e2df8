import pytest

from tests.conftest import TINY_TEXT


@pytest.fixture
def corpus_file(home):
    """The tiny corpus as a user corpus of the data dir."""
    (home / "corpora").mkdir(exist_ok=True)
    p = home / "corpora" / "tiny.txt"
    p.write_text(TINY_TEXT)
    return p
