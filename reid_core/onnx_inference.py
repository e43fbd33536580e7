"""The re-ID network on ONNX Runtime: the :class:`~reid_core.inference.Matcher` API without torch.

A CPU run of the pipeline spends ~1.3 s of CPU importing torch, and torch's CPU kernels encode the
pipeline's small crops slower than ONNX Runtime's (measured in docs/speed.md). This module runs the
ONNX exports of a weights file (:mod:`reid_core.onnx_export`, ``W.encode.onnx`` and
``W.head.onnx``) with ``onnxruntime`` and NumPy only; importing it imports no torch.

Example:
    >>> import numpy as np
    >>> from reid_core.onnx_inference import load_onnx_matcher
    >>> m = load_onnx_matcher(None, threads=1)  # the shipped weights' exports
    >>> crops = [np.full((120, 50, 3), v, np.uint8) for v in (40, 90, 200)]  # OpenCV BGR uint8
    >>> m.score(m.encode(crops[:2]), m.encode(crops)).shape
    (2, 3)

Same maths as the torch :class:`~reid_core.inference.Matcher` (the fused inference path,
exported); scores agree with it to float rounding, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from infra.errors import WeightsError
from infra.fileio import file_sha256
from reid_core.data.crops import INPUT_SIZE_HW, stack_bgr
from reid_core.rows import check_rows, row_index
from reid_core.shipped import DEFAULT_WEIGHTS, onnx_paths

__all__ = ["ArrayEncoded", "OnnxMatcher", "as_arrays", "load_onnx_matcher", "onnx_exports_exist"]


@dataclass(frozen=True)
class ArrayEncoded:
    """Per-crop encodings as NumPy arrays; row ``i`` is crop ``i`` (cf. :class:`reid_core.inference.Encoded`).

    Attributes:
        half_a: (N, C', 10, 5) float32, the crop as the first image of a pair.
        half_b: (N, C', 10, 5) float32, the crop as the second image.
        embedding: (N, D) float32, L2-normalised shortlist embedding.
    """

    half_a: np.ndarray
    half_b: np.ndarray
    embedding: np.ndarray

    def __post_init__(self) -> None:
        check_rows("ArrayEncoded", self.half_a.shape, self.half_b.shape, self.embedding.shape)

    def __len__(self) -> int:
        return int(self.half_a.shape[0])

    def __getitem__(self, index: Any) -> ArrayEncoded:
        rows = row_index(index, len(self))
        return ArrayEncoded(self.half_a[rows], self.half_b[rows], self.embedding[rows])

    @staticmethod
    def concat(parts: Sequence[ArrayEncoded]) -> ArrayEncoded:
        """Rows of all ``parts`` in order (at least one part)."""
        if len(parts) == 0:
            raise ValueError("ArrayEncoded.concat needs at least one part")
        return ArrayEncoded(
            np.concatenate([p.half_a for p in parts]),
            np.concatenate([p.half_b for p in parts]),
            np.concatenate([p.embedding for p in parts]),
        )

    def mean(self) -> ArrayEncoded:
        """One row standing for all rows: see :meth:`reid_core.inference.Encoded.mean`."""
        if len(self) == 0:
            raise ValueError("ArrayEncoded.mean needs at least one row")
        if len(self) == 1:  # already one row (e.g. pooled when its tracklet closed)
            return self
        emb = self.embedding.mean(axis=0, keepdims=True)
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return ArrayEncoded(
            self.half_a.mean(axis=0, keepdims=True),
            self.half_b.mean(axis=0, keepdims=True),
            emb.astype(np.float32),
        )


def as_arrays(enc: Any) -> ArrayEncoded:
    """``enc`` as :class:`ArrayEncoded`: torch :class:`~reid_core.inference.Encoded` rows (e.g. made by
    a GPU Ray actor while this driver runs on ONNX Runtime) are copied to NumPy; no torch import."""
    if isinstance(enc, ArrayEncoded):
        return enc

    def array(x: Any) -> np.ndarray:
        return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, np.float32)

    return ArrayEncoded(array(enc.half_a), array(enc.half_b), array(enc.embedding))


class OnnxMatcher:
    """Encode crops once and score pairs with ONNX Runtime sessions (CPU).

    Args:
        encode_session, head_session: ``onnxruntime.InferenceSession`` of ``W.encode.onnx`` and
            ``W.head.onnx``.
        batch_size: crops per encoder call.
        pair_batch_size: pair rows per head call (512: ~10 MB of input, and ONNX Runtime's
            per-call cost is small next to 512 rows).
        meta: the weights description (as :attr:`reid_core.inference.Matcher.meta`).
    """

    device = "cpu (onnxruntime)"

    def __init__(
        self,
        encode_session: Any,
        head_session: Any,
        *,
        batch_size: int = 64,
        pair_batch_size: int = 512,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self._encode = encode_session
        self._head = head_session
        self.batch_size = int(batch_size)
        self.pair_batch_size = int(pair_batch_size)
        self.meta: dict[str, Any] = dict(meta or {})
        self.input_size_hw = INPUT_SIZE_HW
        shape = encode_session.get_outputs()[0].shape  # (n, C', h, w)
        self._half_shape = tuple(int(v) for v in shape[1:])
        self._embed_dim = int(encode_session.get_outputs()[2].shape[1])

    def encode(self, crops_bgr: Sequence[np.ndarray]) -> ArrayEncoded:
        """Encode (H, W, 3) uint8 **BGR** crops of any size (resized to 160 × 80 inside)."""
        parts = []
        for start in range(0, len(crops_bgr), self.batch_size):
            batch = stack_bgr(crops_bgr[start : start + self.batch_size], self.input_size_hw)
            half_a, half_b, emb = self._encode.run(None, {"crops": batch})
            parts.append(ArrayEncoded(half_a, half_b, emb))
        if not parts:
            empty = np.zeros((0, *self._half_shape), np.float32)
            return ArrayEncoded(empty, empty.copy(), np.zeros((0, self._embed_dim), np.float32))
        return ArrayEncoded.concat(parts)

    def embed(self, enc: ArrayEncoded) -> np.ndarray:
        """Shortlist embeddings: (N, D) float32, L2-normalised."""
        return as_arrays(enc).embedding

    def pool(self, enc: ArrayEncoded) -> ArrayEncoded:
        """:meth:`ArrayEncoded.mean` (``association.crop_pooling: mean``)."""
        return as_arrays(enc).mean()

    def score(self, enc_a: ArrayEncoded, enc_b: ArrayEncoded) -> np.ndarray:
        """P(same person) of every pair (a_i, b_j): (Na, Nb) float32, ``a`` as the first image."""
        return self.score_blocks([(enc_a, enc_b)])[0]

    def score_blocks(self, blocks: Sequence[tuple[ArrayEncoded, ArrayEncoded]]) -> list[np.ndarray]:
        """:meth:`score` of several blocks, their rows stacked into head calls of ``pair_batch_size``."""
        blocks = [(as_arrays(a), as_arrays(b)) for a, b in blocks]
        shapes = [(len(a), len(b)) for a, b in blocks]
        summed = [
            (a.half_a[:, None] + b.half_b[None]).reshape(na * nb, *self._half_shape)
            for (a, b), (na, nb) in zip(blocks, shapes, strict=True)
            if na and nb
        ]
        flat = np.empty(sum(na * nb for na, nb in shapes), np.float32)
        if summed:
            rows = np.concatenate(summed) if len(summed) > 1 else summed[0]
            for s in range(0, rows.shape[0], self.pair_batch_size):
                chunk = np.ascontiguousarray(rows[s : s + self.pair_batch_size])
                flat[s : s + chunk.shape[0]] = self._head.run(None, {"summed": chunk})[0]
        out, start = [], 0
        for na, nb in shapes:
            out.append(flat[start : start + na * nb].reshape(na, nb))
            start += na * nb
        return out


def _metadata_sha(session: Any) -> str | None:
    return session.get_modelmeta().custom_metadata_map.get("weights_sha256")


def onnx_exports_exist(weights: str | Path | None = None) -> bool:
    """Whether both ONNX exports of ``weights`` exist (their metadata is checked on loading)."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    return path.is_file() and all(p.is_file() for p in onnx_paths(path))


def load_onnx_matcher(weights: str | Path | None, *, threads: int) -> OnnxMatcher:
    """The ONNX Runtime matcher of ``weights`` (default: the shipped weights).

    Args:
        weights: the ``.safetensors`` file whose exports (``W.encode.onnx``, ``W.head.onnx``) to run.
        threads: intra-op CPU threads per session (0 = ONNX Runtime's default: every core).

    Raises:
        WeightsError: an export is missing, unreadable, or was made from other weights (its
            recorded SHA-256 differs from the weights file's).
    """
    import onnxruntime as ort

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no graph-optimisation chatter
    # No memory arena: the arena keeps every chunk it ever grew to (a pair-head call of thousands of
    # rows holds ~100 MB of activations), so peak RSS would grow with the busiest moment of the run.
    options.enable_cpu_mem_arena = False
    want = file_sha256(path)
    sessions = []
    for onnx_path in onnx_paths(path):
        if not onnx_path.is_file():
            raise WeightsError(f"{onnx_path}: no ONNX export (python -m reid_core.onnx_export {path})")
        try:
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise WeightsError(f"{onnx_path}: not a readable ONNX model ({type(err).__name__})") from None
        if _metadata_sha(session) != want:
            raise WeightsError(
                f"{onnx_path}: exported from other weights than {path.name} "
                f"(python -m reid_core.onnx_export {path})"
            )
        sessions.append(session)
    return OnnxMatcher(sessions[0], sessions[1], meta={"weights": str(path), "backend": "onnxruntime"})
