from charlm_tui.core.data.vocab import UNK_DISPLAY, UNK_ID, Vocab


def test_ids_are_code_point_ordered_with_unk_zero():
    v = Vocab("cabé")
    assert v.chars == ["a", "b", "c", "é"]
    assert v.size == 5
    assert v.encode("abcé") == [1, 2, 3, 4]
    assert UNK_ID == 0


def test_round_trip_unicode_code_points_not_bytes():
    text = "naïve 日本語 🙂!"
    v = Vocab(text)
    assert v.decode(v.encode(text)) == text
    assert len(v.encode("🙂")) == 1


def test_unknown_prompt_chars_map_to_unk_and_are_reported():
    v = Vocab("abc ")
    enc = v.encode_prompt("a zz!")
    assert v.chars == [" ", "a", "b", "c"]
    assert enc.ids == [2, 1, 0, 0, 0]
    assert dict(enc.unknown) == {"z": 2, "!": 1}
    assert enc.unknown_count == 3
    assert v.decode(enc.ids) == "a " + UNK_DISPLAY * 3


def test_json_round_trip_and_lookup_table():
    v = Vocab("hello\n")
    w = Vocab.from_json(v.to_json())
    assert w == v
    lut = w.lookup_table()
    assert lut[ord("h")] == w.stoi["h"] and lut[ord("z")] == UNK_ID
