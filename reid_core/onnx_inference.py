"""The re-ID network on ONNX Runtime: the :class:`~reid_core.inference.Matcher` API without torch.

A CPU run of the pipeline spends ~1.3 s of CPU importing torch, and torch's CPU kernels encode the
pipeline's small crops slower than ONNX Runtime's (measured in docs/speed.md). This module runs the
ONNX exports of a weights file (:mod:`reid_core.onnx_export`: ``W.encode.onnx``, ``W.head.onnx``
and ``W.moments.onnx``) with ``onnxruntime``, ``onnx`` and NumPy only; importing it imports no
torch. Camera normalisation (:meth:`OnnxMatcher.renormalised`, as
:func:`reid_core.camera_norm.renormalised`) runs here too: the moments graph measures a camera's
BatchNorm moments and a copy of the encoder graph holding them encodes that camera's crops.

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
from reid_core.shipped import DEFAULT_WEIGHTS, ONNX_FORMAT_VERSION, onnx_paths

__all__ = ["ArrayEncoded", "OnnxMatcher", "as_arrays", "load_onnx_matcher", "onnx_exports_exist"]

#: Crops per pass of the moments graph at most (as :data:`reid_core.camera_norm.STATISTICS_BATCH`).
STATISTICS_BATCH = 64


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


@dataclass(frozen=True)
class _Renormaliser:
    """What :meth:`OnnxMatcher.renormalised` needs: the moments graph and the encoder graph.

    Attributes:
        moments_session: ``InferenceSession`` of ``W.moments.onnx``.
        encode_model: the bytes of ``W.encode.onnx`` the encoder session was made from (checked
            when loaded; each camera's copy is built from them, not from the file again).
        options: the ``SessionOptions`` every camera's encoder session is made with.
    """

    moments_session: Any
    encode_model: bytes
    options: Any


class OnnxMatcher:
    """Encode crops once and score pairs with ONNX Runtime sessions (CPU).

    Args:
        encode_session, head_session: ``onnxruntime.InferenceSession`` of ``W.encode.onnx`` and
            ``W.head.onnx``.
        batch_size: crops per encoder call.
        pair_batch_size: pair rows per head call (512: ~10 MB of input, and ONNX Runtime's
            per-call cost is small next to 512 rows).
        meta: the weights description (as :attr:`reid_core.inference.Matcher.meta`).
        renormaliser: the moments graph and encoder file for :meth:`renormalised` (``None``: this
            matcher cannot renormalise).
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
        renormaliser: _Renormaliser | None = None,
    ) -> None:
        self._encode = encode_session
        self._head = head_session
        self._renormaliser = renormaliser
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

    def moments(self, crops_bgr: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The trunk's BatchNorm moments on ``crops_bgr`` (one camera's, of several people).

        Args:
            crops_bgr: (H, W, 3) uint8 **BGR** crops of any size (at least one).

        Returns:
            Encoder initializer name (``trunk.<layer>.running_mean`` / ``running_var``) → (C,)
            float32: the mean over equal passes of at most :data:`STATISTICS_BATCH` crops of each
            pass's per-channel mean and unbiased variance, every BatchNorm normalising by its pass
            (as :func:`reid_core.camera_norm.renormalised`).
        """
        if self._renormaliser is None:
            raise ValueError("this ONNX matcher has no moments graph (load it with load_onnx_matcher)")
        if len(crops_bgr) == 0:
            raise ValueError("moments need at least one crop")
        session = self._renormaliser.moments_session
        images = stack_bgr(crops_bgr, self.input_size_hw)
        passes = [
            session.run(None, {"crops": part})
            for part in np.array_split(images, -(-len(images) // STATISTICS_BATCH))
        ]
        names = [output.name for output in session.get_outputs()]
        stacked = [np.stack([p[i] for p in passes]).astype(np.float64) for i in range(len(names))]
        return {name: np.asarray(s.mean(axis=0), np.float32) for name, s in zip(names, stacked, strict=True)}

    def renormalised(self, crops_bgr: Sequence[np.ndarray]) -> OnnxMatcher:
        """A matcher for one camera: the encoder's BatchNorm moments measured on its crops.

        As :meth:`reid_core.inference.Matcher.renormalised`, without torch: :meth:`moments` on
        ``crops_bgr``, then an encoder session from a copy of ``W.encode.onnx`` holding them
        (ONNX Runtime folds them into the convolutions as it loads it). The head session is
        shared, so any of these matchers scores encodings of any two cameras. No crops: this
        matcher.
        """
        if len(crops_bgr) == 0:
            return self
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        moments = self.moments(crops_bgr)
        assert self._renormaliser is not None  # moments() raised otherwise
        model = onnx.load_from_string(self._renormaliser.encode_model)
        for init in model.graph.initializer:
            if init.name in moments:
                init.CopyFrom(numpy_helper.from_array(moments[init.name], init.name))
        session = ort.InferenceSession(
            model.SerializeToString(), self._renormaliser.options, providers=["CPUExecutionProvider"]
        )
        return OnnxMatcher(
            session,
            self._head,
            batch_size=self.batch_size,
            pair_batch_size=self.pair_batch_size,
            meta=self.meta,
            renormaliser=self._renormaliser,
        )

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


def _session_options(threads: int, *, spinning: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(0, int(threads))
    if not spinning:  # idle threads sleep instead of busy-waiting (no CPU taken from the detector)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no graph-optimisation chatter
    # No memory arena: the arena keeps every chunk it ever grew to (a pair-head call of thousands of
    # rows holds ~100 MB of activations), so peak RSS would grow with the busiest moment of the run.
    options.enable_cpu_mem_arena = False
    return options


def _load_session(onnx_path: Path, weights: Path, want_sha: str, options: Any) -> tuple[Any, bytes]:
    """One export's session, checked against its weights file (see :func:`load_onnx_matcher`),
    and the bytes it was made from."""
    import onnxruntime as ort

    remake = f"python -m reid_core.onnx_export {weights}"
    if not onnx_path.is_file():
        raise WeightsError(f"{onnx_path}: no ONNX export ({remake})")
    try:
        model = onnx_path.read_bytes()
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except OSError as err:
        raise WeightsError(f"{onnx_path}: cannot read the ONNX export ({err.strerror})") from None
    except Exception as err:  # onnxruntime raises its own exception types
        raise WeightsError(f"{onnx_path}: not a readable ONNX model ({type(err).__name__})") from None
    recorded = session.get_modelmeta().custom_metadata_map
    if recorded.get("weights_sha256") != want_sha:
        raise WeightsError(f"{onnx_path}: exported from other weights than {weights.name} ({remake})")
    if recorded.get("reid_pipeline_onnx") != ONNX_FORMAT_VERSION:
        raise WeightsError(
            f"{onnx_path}: an export of layout {recorded.get('reid_pipeline_onnx')!r}, "
            f"this version reads {ONNX_FORMAT_VERSION!r} ({remake})"
        )
    return session, model


def onnx_exports_exist(weights: str | Path | None = None) -> bool:
    """Whether the three ONNX exports of ``weights`` exist (their metadata is checked on loading)."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    return path.is_file() and all(p.is_file() for p in onnx_paths(path))


def load_onnx_matcher(weights: str | Path | None, *, threads: int) -> OnnxMatcher:
    """The ONNX Runtime matcher of ``weights`` (default: the shipped weights).

    Args:
        weights: the ``.safetensors`` file whose exports (``W.encode.onnx``, ``W.head.onnx``,
            ``W.moments.onnx``) to run.
        threads: intra-op CPU threads per session (0 = ONNX Runtime's default: every core).

    Raises:
        WeightsError: an export is missing, unreadable, was made from other weights (its
            recorded SHA-256 differs from the weights file's) or has an older layout
            (:data:`reid_core.shipped.ONNX_FORMAT_VERSION`).
    """
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    options = _session_options(threads)
    want = file_sha256(path)
    encode_path, head_path, moments_path = onnx_paths(path)
    encode, encode_model = _load_session(encode_path, path, want, options)
    head, _ = _load_session(head_path, path, want, options)
    # One pass per camera: every core, idle threads asleep. Detection running too, the OS shares the
    # cores out; the sources ended (a short input's cameras are measured then), it takes them all.
    moments, _ = _load_session(moments_path, path, want, _session_options(0, spinning=False))
    return OnnxMatcher(
        encode,
        head,
        meta={"weights": str(path), "backend": "onnxruntime"},
        renormaliser=_Renormaliser(moments, encode_model, options),
    )
