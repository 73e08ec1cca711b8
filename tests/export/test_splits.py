import pytest

from synthgap.export.splits import SplitRatios, assign_splits, parse_split, split_of


def test_parse_split_three_and_two_values():
    assert parse_split("0.8,0.1,0.1").as_tuple() == (0.8, 0.1, 0.1)
    assert parse_split(" 0.9 , 0.1 ").as_tuple() == (0.9, 0.1, 0.0)


@pytest.mark.parametrize("text, match", [
    ("0.8,0.1,0.2", "sum to 1"),
    ("0.8,abc,0.1", "val fraction 'abc' is not a number"),
    ("1", "expected 2 or 3"),
    ("0.5,0.5,0.5,0.5", "expected 2 or 3"),
    ("1.2,-0.2,0", "val: expected a number >= 0"),
])
def test_bad_split_strings_say_what_is_wrong(text, match):
    with pytest.raises(ValueError, match=match):
        parse_split(text)


def test_splits_are_disjoint_cover_all_and_deterministic():
    ratios = SplitRatios(0.6, 0.2, 0.2)
    a = assign_splits(range(500), ratios, seed=4)
    assert a == assign_splits(range(500), ratios, seed=4)
    assert set(a) == set(range(500)) and set(a.values()) == {"train", "val", "test"}
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "val", "test")}
    # binomial: 300 +- 3 sigma (~33), 100 +- ~27
    assert abs(counts["train"] - 300) < 35 and abs(counts["val"] - 100) < 27
    assert assign_splits(range(500), ratios, seed=5) != a


def test_appending_images_never_moves_an_existing_image():
    ratios = SplitRatios()
    before = assign_splits(range(50), ratios, seed=0)
    after = assign_splits(range(80), ratios, seed=0)
    assert all(after[i] == s for i, s in before.items())


def test_zero_ratio_split_is_never_used():
    assert {split_of(i, SplitRatios(0.5, 0.5, 0.0), seed=1) for i in range(200)} == {"train", "val"}
    assert {split_of(i, SplitRatios(1.0, 0.0, 0.0), seed=1) for i in range(50)} == {"train"}
