import math

import numpy as np
import pytest

from pipeline.evaluation.pairs import precision_at_recall, roc_auc


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0], 1.0),  # perfect ranking
        ([0.1, 0.3, 0.8, 0.9], [1, 1, 0, 0], 0.0),  # reversed
        ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.5),  # all tied: chance
        ([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], 0.75),
        ([0.9, 0.8], [1, 1], math.nan),  # one class only
    ],
)
def test_roc_auc(scores: list[float], labels: list[int], expected: float) -> None:
    got = roc_auc(np.array(scores), np.array(labels, bool))
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("scores", "labels", "recall", "expected"),
    [
        ([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 0.5, 1.0),
        ([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 1.0, 2 / 3),
        ([0.9, 0.8, 0.7, 0.6], [0, 0, 1, 1], 0.5, 1 / 3),
        ([0.9, 0.9, 0.7], [1, 0, 0], 0.5, 0.5),  # a tie at the threshold counts both pairs
        ([0.9, 0.8], [0, 0], 0.5, math.nan),
    ],
)
def test_precision_at_recall(scores: list[float], labels: list[int], recall: float, expected: float) -> None:
    got = precision_at_recall(np.array(scores), np.array(labels, bool), recall)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: roc_auc(np.array([0.1, 0.2]), np.array([True])), "differ in length"),
        (lambda: roc_auc(np.array([0.1, math.nan]), np.array([True, False])), "finite"),
        (lambda: precision_at_recall(np.array([0.1]), np.array([True]), 0.0), "recall"),
        (lambda: precision_at_recall(np.array([0.1]), np.array([True]), 1.5), "recall"),
    ],
)
def test_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call()
