"""Test-time augmentation for ranking: each pair scored as seen and mirrored.

:class:`FlipAveraged` wraps a matcher (:class:`reid_core.inference.Matcher`, the ONNX matcher,
anything with ``encode`` / ``embed`` / ``score`` / ``score_pairs``). It encodes every crop twice,
as given and mirrored left–right, and scores a pair ``(a, b)`` by the mean log-odds of
``(a, b)`` and ``(mirror a, mirror b)``:

    P = σ((logit P(a, b) + logit P(a', b')) / 2)

The trunk runs twice per crop and the pair head twice per pair. Mirroring is the test-time
augmentation most re-ID toolkits offer (a person seen from the left is the same person seen
from the right); what it gives on each data set is in docs/reid.md ("Test-time flip").
``reid-eval cmc`` uses it by default (``--tta flip``); the pipeline does not.

Usage::

    matcher = FlipAveraged(load_matcher())
    p = matcher.score(matcher.encode(crops_a_bgr), matcher.encode(crops_b_bgr))  # (Na, Nb)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid_core.data.loader import read_bgr

__all__ = ["TTA_MODES", "FlipAveraged", "FlipEncoded", "with_tta"]

#: The test-time augmentations ``reid-eval cmc --tta`` knows.
TTA_MODES = ("flip", "none")

_P_CLIP = 1e-7  # float32 probabilities: log-odds stay finite


@dataclass(frozen=True)
class FlipEncoded:
    """The inner matcher's encodings of N crops as given (``plain``) and mirrored (``mirrored``)."""

    plain: Any
    mirrored: Any

    def __len__(self) -> int:
        return len(self.plain)

    def __getitem__(self, index: Any) -> FlipEncoded:
        """The rows ``index`` (an int, slice or integer array) of both views."""
        return FlipEncoded(self.plain[index], self.mirrored[index])

    @staticmethod
    def concat(parts: Sequence[FlipEncoded]) -> FlipEncoded:
        """The rows of ``parts`` one after another (the inner encodings' ``concat``); at least one part."""
        inner = type(parts[0].plain)
        return FlipEncoded(inner.concat([p.plain for p in parts]), inner.concat([p.mirrored for p in parts]))


def _logodds(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _P_CLIP, 1.0 - _P_CLIP)
    return np.log(p) - np.log1p(-p)


def _mean_prob(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """σ of the mean log-odds of two probability arrays of one shape, float32."""
    return (1.0 / (1.0 + np.exp(-0.5 * (_logodds(p) + _logodds(q))))).astype(np.float32)


class FlipAveraged:
    """A matcher that scores each pair as seen and mirrored, mean log-odds (see the module doc).

    Args:
        matcher: the inner matcher; its ``meta`` (weights description) is kept as :attr:`meta`.
    """

    def __init__(self, matcher: Any) -> None:
        self.inner = matcher
        self.meta: dict[str, Any] = dict(getattr(matcher, "meta", {}) or {})

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> FlipEncoded:
        """Encode (H, W, 3) uint8 **BGR** crops as given and mirrored left–right."""
        mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in crops_bgr]
        return FlipEncoded(self.inner.encode(list(crops_bgr)), self.inner.encode(mirrored))

    def encode_paths(self, paths: Sequence[str | Path]) -> FlipEncoded:
        """:meth:`encode` for image files (OpenCV, BGR).

        Raises:
            DatasetError: a file that is missing or not an image (named).
        """
        return self.encode([read_bgr(p) for p in paths])

    def embed(self, enc: FlipEncoded) -> np.ndarray:
        """(N, D) float32 L2-normalised mean of the two views' shortlist embeddings."""
        total = np.asarray(self.inner.embed(enc.plain), np.float64) + np.asarray(
            self.inner.embed(enc.mirrored), np.float64
        )
        norms = np.maximum(np.linalg.norm(total, axis=1, keepdims=True), 1e-12)
        return (total / norms).astype(np.float32)

    def score(self, enc_a: FlipEncoded, enc_b: FlipEncoded) -> np.ndarray:
        """(Na, Nb) float32 P(same person) of every pair (a_i, b_j), both views."""
        plain = self.inner.score(enc_a.plain, enc_b.plain)
        mirrored = self.inner.score(enc_a.mirrored, enc_b.mirrored)
        return _mean_prob(plain, mirrored)

    def pool(self, enc: FlipEncoded) -> FlipEncoded:
        """Each view's crops averaged into one row (the inner matcher's ``pool``)."""
        return FlipEncoded(self.inner.pool(enc.plain), self.inner.pool(enc.mirrored))

    def score_blocks(self, blocks: Sequence[tuple[FlipEncoded, FlipEncoded]]) -> list[np.ndarray]:
        """:meth:`score` of every ``(enc_a, enc_b)`` block, each view's blocks in one inner call
        (the inner ``score_blocks`` when it has one, else one ``score`` per block)."""
        batched = getattr(self.inner, "score_blocks", None)

        def run(view: list[tuple[Any, Any]]) -> list[np.ndarray]:
            return list(batched(view)) if callable(batched) else [self.inner.score(a, b) for a, b in view]

        plain = run([(a.plain, b.plain) for a, b in blocks])
        mirrored = run([(a.mirrored, b.mirrored) for a, b in blocks])
        return [_mean_prob(p, q) for p, q in zip(plain, mirrored, strict=True)]

    def score_pairs(
        self,
        enc_a: FlipEncoded,
        idx_a: np.ndarray | Sequence[int],
        enc_b: FlipEncoded,
        idx_b: np.ndarray | Sequence[int],
    ) -> np.ndarray:
        """(P,) float32 P(same) of the pairs (enc_a[idx_a[p]], enc_b[idx_b[p]]), both views."""
        plain = self.inner.score_pairs(enc_a.plain, idx_a, enc_b.plain, idx_b)
        mirrored = self.inner.score_pairs(enc_a.mirrored, idx_a, enc_b.mirrored, idx_b)
        return _mean_prob(plain, mirrored)


def with_tta(matcher: Any, mode: str) -> Any:
    """``matcher`` with the test-time augmentation ``mode`` (one of :data:`TTA_MODES`).

    Raises:
        ValueError: an unknown mode.
    """
    if mode == "none":
        return matcher
    if mode == "flip":
        return FlipAveraged(matcher)
    raise ValueError(f"unknown test-time augmentation {mode!r}; available: {', '.join(TTA_MODES)}")
