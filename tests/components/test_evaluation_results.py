"""Scores from TFMA's confusion matrix, shared by the run summary and the evaluation report.

The matrices are in the JSON form `tfma.load_eval_result` gives (fields that are zero are
left out); reading them from a real evaluation is tested in test_evaluation_report.py.
"""

import pytest

from components.evaluation_report import results


def test_macro_f1_of_a_model_that_always_answers_one_class():
    entries = [
        {"predictedClassId": 1, "numWeightedExamples": 10.0},  # actual 0: zero left out
        {"actualClassId": 1, "predictedClassId": 1, "numWeightedExamples": 10.0},
        {"actualClassId": 2, "predictedClassId": 1, "numWeightedExamples": 10.0},
    ]
    # class 1: precision 1/3, recall 1 -> F1 0.5; classes 0 and 2: F1 0
    assert results.macro_f1(entries) == pytest.approx(0.5 / 3)


def test_macro_f1_weighs_classes_equally():
    entries = [
        {"numWeightedExamples": 90.0},
        {"actualClassId": 1, "predictedClassId": 1, "numWeightedExamples": 5.0},
        {"actualClassId": 1, "numWeightedExamples": 5.0},
    ]
    # class 0: precision 90/95, recall 1; class 1: precision 1, recall 0.5
    assert results.macro_f1(entries) == pytest.approx((180 / 185 + 10 / 15) / 2)


def test_per_class_scores_leave_undefined_ratios_empty():
    entries = [
        {"predictedClassId": 1, "numWeightedExamples": 4.0},  # class 0 never predicted
        {"actualClassId": 1, "predictedClassId": 1, "numWeightedExamples": 6.0},
        {"actualClassId": 1, "predictedClassId": 2, "numWeightedExamples": 0.0},  # class 2: none
    ]
    scores = results.per_class_scores(entries)
    assert scores[0] == results.ClassScores(precision=None, recall=0.0, f1=0.0, support=4.0)
    assert scores[1].precision == pytest.approx(0.6)
    assert scores[1].recall == 1.0
    assert scores[1].f1 == pytest.approx(2 * 6 / 16)
    assert scores[2] == results.ClassScores(precision=None, recall=None, f1=0.0, support=0.0)


def test_a_failed_check_reads_like_the_summary_line():
    check = results.ThresholdCheck(
        metric="sparse_categorical_accuracy",
        slice="Overall",
        change=False,
        required="at least 0.9",
        measured=0.85,
        passed=False,
    )
    assert check.as_text() == (
        "sparse_categorical_accuracy on slice Overall: measured 0.8500, required at least 0.9"
    )
    missing = results.ThresholdCheck(
        "top_3_accuracy",
        "label:3",
        True,
        "a change of at least -0.01",
        None,
        False,
        "Metric not found.",
    )
    assert missing.as_text().startswith("top_3_accuracy on slice label:3: Metric not found., ")
