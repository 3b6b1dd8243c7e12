"""The per-class size distribution ingestion records, and the size shortcuts it names."""

from components.image_example_gen import sizes


def test_distribution_per_class_from_counts_of_class_and_side():
    counts = [(("cat", 64), 3), (("cat", 96), 1), (("cat", 128), 1), (("dog", 200), 2)]
    assert sizes.per_class(counts) == {
        "cat": {"min": 64, "median": 64, "max": 128},
        "dog": {"min": 200, "median": 200, "max": 200},
    }


def test_overall_distribution_whatever_the_class():
    counts = [(("cat", 64), 3), (("cat", 96), 1), (("dog", 200), 2), (("dog", 96), 1)]
    assert sizes.overall(counts) == {"min": 64, "median": 96, "max": 200}


def test_the_median_is_the_lower_middle_image():
    counts = [(("a", 10), 1), (("a", 20), 1), (("a", 30), 1), (("a", 40), 1)]
    assert sizes.per_class(counts)["a"]["median"] == 20
    assert sizes.per_class(counts + [(("a", 50), 1)])["a"]["median"] == 30


def test_text_of_a_distribution():
    assert sizes.as_text({"min": 8, "median": 8, "max": 8}) == "8 px"
    assert sizes.as_text({"min": 64, "median": 96, "max": 128}) == "64-128 px (median 96)"


def test_a_class_all_smaller_than_others_is_named_once_with_every_larger_class():
    found = {
        "cat": {"min": 32, "median": 40, "max": 48},
        "dog": {"min": 64, "median": 100, "max": 256},
        "fish": {"min": 50, "median": 60, "max": 70},
        "owl": {"min": 40, "median": 64, "max": 300},
    }
    (line,) = sizes.shortcuts(found)
    assert line.startswith(
        "every cat image (32-48 px (median 40)) is smaller than every image of "
        "dog (64-256 px (median 100)), fish (50-70 px (median 60)):"
    )


def test_overlapping_sizes_are_no_shortcut():
    found = {"a": {"min": 8, "median": 8, "max": 8}, "b": {"min": 8, "median": 9, "max": 10}}
    assert sizes.shortcuts(found) == []
