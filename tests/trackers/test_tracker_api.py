"""Containers, validation, registry, matching and box maths: tables of cases, errors included."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pytest

from infra.boxes import iou_matrix, tlwh_to_xyxy, xysr_to_xyxy, xyxy_to_tlwh, xyxy_to_xysr
from trackers import (
    ByteTracker,
    Detections,
    SortTracker,
    Tracks,
    available_trackers,
    create_tracker,
    min_cost_matching,
    register_tracker,
)

ok = contextlib.nullcontext
raises = pytest.raises


@pytest.mark.parametrize(
    ("xyxy", "score", "class_id", "expectation"),
    [
        ([[0, 0, 10, 20]], [0.9], [0], ok()),
        ([[0, 0, 10, 20]], [0.9], None, ok()),  # class_id defaults to 0
        ([[0, 0, 0, 0]], [0.5], [1.0], ok()),  # zero-size box, integral float class id
        (np.zeros((0, 4)), [], [], ok()),
        ([], [], [], ok()),  # any empty input is (0, 4)
        ([[0, 0, 10, 20, 0.9]], [0.9], [0], raises(ValueError, match=r"shape \(N, 4\).*got shape \(1, 5\)")),
        ([0, 0, 10, 20], [0.9], [0], pytest.raises(ValueError, match=r"shape \(N, 4\).*got shape \(4,\)")),
        ([[np.nan, 0, 10, 20]], [0.9], [0], pytest.raises(ValueError, match=r"must be finite.*row 0")),
        ([[0, 0, np.inf, 20]], [0.9], [0], pytest.raises(ValueError, match="must be finite")),
        ([[10, 0, 0, 20]], [0.9], [0], pytest.raises(ValueError, match="x2 >= x1")),
        ([[0, 0, 10, 20]], [0.9, 0.8], [0], raises(ValueError, match=r"score must have shape \(1,\).*2")),
        ([[0, 0, 10, 20]], [np.nan], [0], pytest.raises(ValueError, match="score must be finite")),
        ([[0, 0, 10, 20]], [0.9], [0.5], pytest.raises(ValueError, match="class_id must hold integers")),
        ([[0, 0, 10, 20]], [0.9], ["person"], pytest.raises(ValueError, match="class_id must hold integers")),
    ],
)
def test_detections_validation(xyxy: Any, score: Any, class_id: Any, expectation: Any) -> None:
    with expectation:
        d = Detections(xyxy=xyxy, score=score, class_id=class_id)
        assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (len(d), 4)
        assert d.score.dtype == np.float32 and d.class_id.dtype == np.int64


@pytest.mark.parametrize(
    ("index", "expected_rows", "expectation"),
    [
        (np.array([True, False, True]), [0, 2], ok()),
        (1, [1], ok()),
        (slice(1, None), [1, 2], ok()),
        ([2, 0], [2, 0], ok()),
        (np.array([True, False]), None, pytest.raises(IndexError, match=r"shape \(3,\)")),
        (5, None, pytest.raises(IndexError)),
    ],
)
def test_detections_indexing(index: Any, expected_rows: list[int] | None, expectation: Any) -> None:
    d = Detections(xyxy=[[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]], score=[0.1, 0.2, 0.3], class_id=[0, 1, 2])
    with expectation:
        sub = d[index]
        assert isinstance(sub, Detections)
        assert sub.class_id.tolist() == expected_rows


def test_empty_containers() -> None:
    assert len(Detections.empty()) == 0 and Detections.empty().xyxy.shape == (0, 4)
    assert len(Tracks.empty()) == 0 and Tracks.empty().det_index.dtype == np.int64


@pytest.mark.parametrize(
    ("kwargs", "expectation"),
    [
        ({"track_id": [1], "score": [0.5], "det_index": [0]}, ok()),
        ({"track_id": [1, 2], "score": [0.5], "det_index": [0]}, pytest.raises(ValueError, match="track_id")),
        ({"track_id": [1], "score": [0.5], "det_index": [0.5]}, pytest.raises(ValueError, match="det_index")),
    ],
)
def test_tracks_validation(kwargs: dict[str, Any], expectation: Any) -> None:
    with expectation:
        t = Tracks(xyxy=[[0, 0, 1, 1]], **kwargs)
        assert t.track_id.dtype == np.int64


def test_registry_lists_the_trackers() -> None:
    assert available_trackers() == ("bytetrack", "sort")
    assert type(create_tracker("sort", fps=29.97)) is SortTracker
    assert type(create_tracker("bytetrack")) is ByteTracker
    assert create_tracker("sort", fps=29.97, max_age_s=1.0).max_age_frames == 30


@pytest.mark.parametrize(
    ("name", "kwargs", "expectation"),
    [
        ("sorta", {}, raises(ValueError, match=r"unknown tracker 'sorta'; available: bytetrack, sort")),
        ("sort", {"max_age": 30}, pytest.raises(TypeError, match="max_age")),
        ("sort", {"fps": 0.0}, pytest.raises(ValueError, match="fps must be a positive")),
        ("sort", {"fps": float("nan")}, pytest.raises(ValueError, match="fps")),
        ("sort", {"max_age_s": -1.0}, pytest.raises(ValueError, match="max_age_s")),
        ("sort", {"min_hits": 0}, pytest.raises(ValueError, match="min_hits")),
        ("sort", {"iou_threshold": 1.5}, pytest.raises(ValueError, match="iou_threshold")),
        ("sort", {"coast_output_s": -0.1}, pytest.raises(ValueError, match="coast_output_s")),
        (
            "bytetrack",
            {"low_score_threshold": 0.6, "high_score_threshold": 0.5},
            pytest.raises(ValueError, match="low_score_threshold <= high_score_threshold"),
        ),
        ("bytetrack", {"low_iou_threshold": -0.1}, pytest.raises(ValueError, match="low_iou_threshold")),
    ],
)
def test_create_tracker_rejects_bad_names_and_values(
    name: str, kwargs: dict[str, Any], expectation: Any
) -> None:
    with expectation:
        create_tracker(name, **kwargs)


def test_register_tracker_refuses_a_duplicate_name() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_tracker("sort")(SortTracker)


@pytest.mark.parametrize(
    ("cost", "max_cost", "matches", "unmatched_rows", "unmatched_cols"),
    [
        (np.zeros((0, 0)), 0.5, [], [], []),
        (np.zeros((0, 3)), 0.5, [], [], [0, 1, 2]),
        (np.zeros((2, 0)), 0.5, [], [0, 1], []),
        ([[0.1, 0.9], [0.2, 0.3]], 0.5, [[0, 0], [1, 1]], [], []),
        ([[0.9, 0.9]], 0.5, [], [0], [0, 1]),  # all gated
        # the cheapest total (0.2 + 0.6) would need a gated pair; gating first keeps the allowed one
        ([[0.2, 0.3], [0.6, 0.9]], 0.5, [[0, 0]], [1], [1]),
        ([[np.inf, 0.1], [np.nan, 0.2]], 0.5, [[0, 1]], [1], [0]),
        ([[0.5]], 0.5, [[0, 0]], [], []),  # max_cost itself is allowed
    ],
)
def test_min_cost_matching(
    cost: Any, max_cost: float, matches: list, unmatched_rows: list, unmatched_cols: list
) -> None:
    m = min_cost_matching(np.asarray(cost, dtype=float), max_cost)
    assert m.matches.dtype == np.int64 and m.matches.shape == (len(matches), 2)
    assert m.matches.tolist() == matches
    assert m.unmatched_rows.dtype == np.int64 and m.unmatched_rows.tolist() == unmatched_rows
    assert m.unmatched_cols.dtype == np.int64 and m.unmatched_cols.tolist() == unmatched_cols


def test_min_cost_matching_rejects_a_vector() -> None:
    with pytest.raises(ValueError, match="2-D"):
        min_cost_matching(np.zeros(3), 0.5)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # zero area: no division by zero
    ],
)
def test_iou_matrix(a: list[float], b: list[float], expected: float) -> None:
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)


def test_iou_matrix_shapes() -> None:
    assert iou_matrix(np.zeros((3, 4)), np.zeros((0, 4))).shape == (3, 0)


def test_box_conversions_round_trip() -> None:
    xyxy = np.array([[10.0, 20.0, 50.0, 120.0]])
    np.testing.assert_allclose(tlwh_to_xyxy(xyxy_to_tlwh(xyxy)), xyxy)
    np.testing.assert_allclose(xyxy_to_tlwh(xyxy), [[10, 20, 40, 100]])
    np.testing.assert_allclose(xyxy_to_xysr(xyxy[0]).ravel(), [30, 70, 4000, 0.4])
    np.testing.assert_allclose(xysr_to_xyxy(xyxy_to_xysr(xyxy[0])), xyxy[0])
    np.testing.assert_allclose(xysr_to_xyxy(np.array([5.0, 5.0, -1.0, 0.5])), [5, 5, 5, 5])


def test_first_four_parameters_are_positional_the_rest_keyword_only() -> None:
    tracker = SortTracker(2.0, 3, 0.3, 29.97)  # (max_age_s, min_hits, iou_threshold, fps)
    assert (tracker.max_age_frames, tracker.fps) == (60, 29.97)
    with pytest.raises(TypeError):
        SortTracker(2.0, 3, 0.3, 29.97, 0.1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ByteTracker(1.0, 2, 0.3, 25.0, 0.1)  # type: ignore[misc]
