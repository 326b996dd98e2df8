from rich.console import Console

from charlm_tui.tui.screens.help import KEYS_HELP, ItemFlow


def render(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, color_system=None)
    with console.capture() as cap:
        console.print(renderable)
    return cap.get().rstrip("\n").split("\n")


def test_help_key_items_wrap_between_items_never_inside_one():
    items = dict(KEYS_HELP)["Generate"]
    for width in (30, 45, 60, 120):
        lines = render(ItemFlow(items), width)
        assert all(len(line) <= width for line in lines)
        # every line is whole items joined by the separator, and together they are all the items in order
        assert [item for line in lines for item in line.split(ItemFlow.SEP)] == items
    assert render(ItemFlow(items), 400) == [ItemFlow.SEP.join(items)]


def test_an_item_longer_than_the_width_gets_a_line_of_its_own():
    assert render(ItemFlow(["a", "b" * 12, "c"]), 8)[:1] == ["a"]
