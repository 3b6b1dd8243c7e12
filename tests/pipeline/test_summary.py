"""The run summary's macro F1, computed from TFMA's confusion-matrix entries.

The whole summary is read back from a real run in tests/e2e; here the arithmetic, on the
JSON form `tfma.load_eval_result` gives (fields that are zero are left out).
"""

import pytest

from pipeline import summary


def test_macro_f1_of_a_model_that_always_answers_one_class():
    entries = [
        {"predictedClassId": 1, "numWeightedExamples": 10.0},  # actual 0: zero left out
        {"actualClassId": 1, "predictedClassId": 1, "numWeightedExamples": 10.0},
        {"actualClassId": 2, "predictedClassId": 1, "numWeightedExamples": 10.0},
    ]
    # class 1: precision 1/3, recall 1 -> F1 0.5; classes 0 and 2: F1 0
    assert summary.macro_f1(entries) == pytest.approx(0.5 / 3)


def test_macro_f1_weighs_classes_equally():
    entries = [
        {"numWeightedExamples": 90.0},
        {"actualClassId": 1, "predictedClassId": 1, "numWeightedExamples": 5.0},
        {"actualClassId": 1, "numWeightedExamples": 5.0},
    ]
    # class 0: precision 90/95, recall 1; class 1: precision 1, recall 0.5
    assert summary.macro_f1(entries) == pytest.approx((180 / 185 + 10 / 15) / 2)
