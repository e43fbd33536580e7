"""Inference API of the Siamese correspondence network: encode crops once, score pairs fast.

Example:
    >>> import numpy as np
    >>> from reid_core.inference import load_matcher
    >>> m = load_matcher(device="cpu")  # shipped default weights; device="auto" takes CUDA if present
    >>> crops = [np.full((120, 50, 3), v, np.uint8) for v in (40, 90, 200)]  # OpenCV BGR uint8, any size
    >>> q, g = m.encode(crops[:2]), m.encode(crops)  # or m.encode_paths(["a.jpg", ...])
    >>> m.score(q, g).shape  # P(same person), decomposed pair head
    (2, 3)
    >>> top = np.argsort(-(m.embed(q) @ m.embed(g).T), axis=1)[:, :10]  # cheap shortlist

How it is fast and still exact: the pair head's first conv is linear in the concatenation of
the two maps, ``W·[X_A; X_B] + b = (W_A·X_A + b) + W_B·X_B``. :meth:`Matcher.encode` runs the
trunk and both half-responses once per crop and keeps them in an :class:`Encoded`; scoring a
pair then only adds two cached tensors and runs the rest of the head, batched over pairs.

Colour: crops are **BGR** (OpenCV order). They are converted to RGB exactly once, inside
:func:`reid_core.data.transforms.bgr_to_input`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from infra.device import resolve_device
from infra.errors import WeightsError
from reid_core.data.loader import read_bgr
from reid_core.data.transforms import bgr_to_input, stack_bgr
from reid_core.head import CorrespondenceHead, FusedPairHead
from reid_core.model import INPUT_SIZE_HW, ModelConfig, SiameseNet, build_model
from reid_core.rows import check_rows, row_index

__all__ = ["Encoded", "Matcher", "load_matcher", "matcher_from_model"]


@dataclass(frozen=True)
class Encoded:
    """Cached per-crop results of :meth:`Matcher.encode`; row ``i`` is crop ``i``.

    Attributes:
        half_a: (N, C', 10, 5) float32 ``W_A·X + b`` (BatchNorm folded in): the crop as the
            *first* image of a pair.
        half_b: (N, C', 10, 5) float32 ``W_B·X`` (BatchNorm scale folded in): the crop as the
            *second* image of a pair. ``half_a[i] + half_b[j]`` is the correspondence layer's
            output for the pair (i, j).
        embedding: (N, D) float32, L2-normalised shortlist embedding.

    Supports ``len(enc)``, ``enc[index_array]`` (int array, slice or bool mask → Encoded) and
    :meth:`concat`.
    """

    half_a: torch.Tensor
    half_b: torch.Tensor
    embedding: torch.Tensor

    def __post_init__(self) -> None:
        check_rows("Encoded", tuple(self.half_a.shape), tuple(self.half_b.shape), tuple(self.embedding.shape))

    def __len__(self) -> int:
        return int(self.half_a.shape[0])

    def __getitem__(self, index: Any) -> Encoded:
        rows = row_index(index, len(self))
        if isinstance(rows, np.ndarray):
            rows = torch.as_tensor(rows, device=self.half_a.device)
        return Encoded(self.half_a[rows], self.half_b[rows], self.embedding[rows])

    @staticmethod
    def concat(parts: Sequence[Encoded]) -> Encoded:
        """Rows of all ``parts`` in order (at least one part)."""
        if len(parts) == 0:
            raise ValueError("Encoded.concat needs at least one part")
        return Encoded(
            torch.cat([p.half_a for p in parts]),
            torch.cat([p.half_b for p in parts]),
            torch.cat([p.embedding for p in parts]),
        )

    def to(self, device: torch.device | str) -> Encoded:
        """The same rows on another device."""
        return Encoded(self.half_a.to(device), self.half_b.to(device), self.embedding.to(device))

    def mean(self) -> Encoded:
        """One row standing for all rows (at least one): a tracklet-level encoding.

        ``half_a`` and ``half_b`` are averaged cell by cell. The correspondence conv is linear, so
        these are exactly the half-responses of the rows' **mean trunk map** (the crops' mid-level
        maps averaged per grid cell, as video re-ID pools frame features): a pair of pooled rows is
        scored by the head as one pair of maps. ``embedding`` is the mean embedding, L2-normalised.
        Pooling a pooled encoding returns the same values.
        """
        if len(self) == 0:
            raise ValueError("Encoded.mean needs at least one row")
        if len(self) == 1:  # already one row (e.g. pooled when its tracklet closed)
            return self
        return Encoded(
            self.half_a.mean(dim=0, keepdim=True),
            self.half_b.mean(dim=0, keepdim=True),
            F.normalize(self.embedding.mean(dim=0, keepdim=True), dim=1),
        )


class Matcher:
    """Scores crops with a trained :class:`~reid_core.model.SiameseNet` (eval mode, no grad).

    Args:
        model: the network (put in eval mode and moved to ``device``).
        device: a torch device.
        batch_size: crops per trunk batch in :meth:`encode`.
        pair_batch_size: pairs per head batch in :meth:`score` / :meth:`score_pairs`.
        meta: the weights description (model config, metrics), kept as :attr:`meta`.
        fuse: fold every BatchNorm into the layer before it (trunk and head) and run the trunk in
            channels-last memory, for speed; same maths, float rounding aside. The Matcher then
            works on a snapshot of ``model``'s weights taken here.
    """

    def __init__(
        self,
        model: SiameseNet,
        device: torch.device | str = "cpu",
        *,
        batch_size: int = 64,
        pair_batch_size: int = 4096,
        meta: dict[str, Any] | None = None,
        fuse: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        if self.device.type == "cuda":
            # cuDNN's default TF32 convolutions moved encodings by ~1 % from the CPU's (H200): re-ID
            # runs in full float32 on CUDA too, so a GPU and a CPU make the same links. The switch is
            # process-wide: a float32 detector in the same process loses TF32 too (fp16 does not care).
            torch.backends.cudnn.allow_tf32 = False
        self.model = model.to(self.device).eval()
        self._trunk: torch.nn.Module = _fused_trunk(self.model.trunk) if fuse else self.model.trunk
        # The fused copy runs in channels-last (NHWC) memory: oneDNN's depthwise and 1x1
        # convolutions are much faster so (2.4x crops/s on a 2-core Xeon), same maths up to rounding.
        self._channels_last = fuse
        if fuse:
            self._trunk = self._trunk.to(memory_format=torch.channels_last)
        self._head: FusedPairHead | CorrespondenceHead = (
            FusedPairHead(self.model.head) if fuse else self.model.head
        )
        self.batch_size = int(batch_size)
        self.pair_batch_size = int(pair_batch_size)
        self.meta: dict[str, Any] = dict(meta or {})
        self.input_size_hw = INPUT_SIZE_HW

    # -- encoding -------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, crops_bgr: Sequence[np.ndarray]) -> Encoded:
        """Run the trunk, the half-responses and the embedding for each crop.

        Args:
            crops_bgr: crops as (H, W, 3) uint8 **BGR** arrays (OpenCV), any size; each is
                resized to 160 × 80 (H × W), converted to RGB and normalised inside.

        Returns:
            :class:`Encoded` with ``len == len(crops_bgr)`` (may be 0).
        """
        parts = []
        for start in range(0, len(crops_bgr), self.batch_size):
            batch = stack_bgr(crops_bgr[start : start + self.batch_size], self.input_size_hw)
            parts.append(self._encode_batch(batch))
        if not parts:
            parts.append(self._encode_batch(np.zeros((0, *self.input_size_hw, 3), np.uint8)))
        return Encoded.concat(parts)

    def encode_paths(self, paths: Sequence[str | Path]) -> Encoded:
        """:meth:`encode` for image files (read with OpenCV, BGR).

        Raises:
            DatasetError: a file that is missing or not an image (named).
        """
        parts = []
        for start in range(0, len(paths), self.batch_size):
            parts.append(self.encode([read_bgr(p) for p in paths[start : start + self.batch_size]]))
        return Encoded.concat(parts) if parts else self.encode([])

    def _encode_batch(self, batch_bgr: np.ndarray) -> Encoded:
        x = bgr_to_input(batch_bgr, self.device)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        maps = self._trunk(x).contiguous()
        halves = self._head.halves(maps)
        c = self.model.head.corr_channels
        return Encoded(
            halves[:, :c].float().contiguous(),
            halves[:, c:].float().contiguous(),
            self.model.embed(maps).float(),
        )

    def renormalised(self, crops_bgr: Sequence[np.ndarray]) -> Matcher:
        """A matcher for one camera: the trunk's BatchNorm moments measured on its crops.

        See :mod:`reid_core.camera_norm`. ``crops_bgr``: (H, W, 3) uint8 BGR crops of the camera,
        of several people. Same device, batch sizes, fusion and description; this matcher is
        unchanged. Its encodings are scored by either matcher's :meth:`score` (the head is shared).
        """
        from reid_core.camera_norm import renormalised

        model = renormalised(self.model, crops_bgr, device=self.device)
        return Matcher(
            model,
            self.device,
            batch_size=self.batch_size,
            pair_batch_size=self.pair_batch_size,
            meta=self.meta,
            fuse=self._channels_last,
        )

    def pool(self, enc: Encoded) -> Encoded:
        """:meth:`Encoded.mean`: the crops of one tracklet as one row (one head row per pair of tracklets)."""
        return self.as_encoded(enc).mean()

    def as_encoded(self, enc: Any) -> Encoded:
        """``enc`` as an :class:`Encoded` on this matcher's device.

        Encodings made by the ONNX Runtime matcher (NumPy :class:`~reid_core.onnx_inference.ArrayEncoded`,
        e.g. by a CPU Ray actor while this driver runs on a GPU) are converted; an ``Encoded`` on
        this device is returned as it is.
        """
        if isinstance(enc, Encoded):
            return enc if enc.half_a.device == self.device else enc.to(self.device)
        return Encoded(
            torch.as_tensor(np.asarray(enc.half_a), device=self.device),
            torch.as_tensor(np.asarray(enc.half_b), device=self.device),
            torch.as_tensor(np.asarray(enc.embedding), device=self.device),
        )

    # -- scoring --------------------------------------------------------------------------
    def embed(self, enc: Encoded) -> np.ndarray:
        """Shortlist embeddings: (N, D) float32, L2-normalised (cosine = dot product)."""
        return self.as_encoded(enc).embedding.detach().cpu().numpy().astype(np.float32, copy=False)

    @torch.inference_mode()
    def score(self, enc_a: Encoded, enc_b: Encoded) -> np.ndarray:
        """P(same person) for every pair (a_i, b_j): (Na, Nb) float32 in [0, 1].

        ``a`` is the first image of each pair, ``b`` the second (the head is not symmetric;
        average ``score(a, b)`` and ``score(b, a).T`` for a symmetric score).
        """
        enc_a, enc_b = self.as_encoded(enc_a), self.as_encoded(enc_b)
        na, nb = len(enc_a), len(enc_b)
        out = np.empty((na, nb), np.float32)
        if na == 0 or nb == 0:
            return out
        rows = max(1, self.pair_batch_size // nb)
        hb = enc_b.half_b
        for i in range(0, na, rows):
            ha = enc_a.half_a[i : i + rows]
            summed = (ha[:, None] + hb[None]).flatten(0, 1)
            out[i : i + rows] = self._prob(summed).view(ha.shape[0], nb).cpu().numpy()
        return out

    @torch.inference_mode()
    def score_blocks(self, blocks: Sequence[tuple[Encoded, Encoded]]) -> list[np.ndarray]:
        """:meth:`score` of several ``(enc_a, enc_b)`` blocks with one pass through the head.

        Returns one (Na, Nb) float32 array per block, equal to ``score(enc_a, enc_b)``: the
        blocks' crop pairs are stacked and run in chunks of ``pair_batch_size`` rows, and the
        head computes every row on its own, so a row's value does not depend on the other rows
        except for the last float bits: bit for bit on an AMD EPYC (AVX2), up to ~1e-7 on an Intel
        Xeon (AVX-512) or a GPU, whose kernels round differently by batch size (tests check the
        bound). Fewer, larger calls: what a GPU needs.
        """
        blocks = [(self.as_encoded(a), self.as_encoded(b)) for a, b in blocks]
        shapes = [(len(a), len(b)) for a, b in blocks]
        summed = [
            (a.half_a[:, None] + b.half_b[None]).flatten(0, 1)
            for (a, b), (na, nb) in zip(blocks, shapes, strict=True)
            if na and nb
        ]
        flat = np.empty(sum(na * nb for na, nb in shapes), np.float32)
        if summed:
            rows = torch.cat(summed) if len(summed) > 1 else summed[0]
            for s in range(0, rows.shape[0], self.pair_batch_size):
                chunk = rows[s : s + self.pair_batch_size]
                flat[s : s + chunk.shape[0]] = self._prob(chunk).cpu().numpy()
        out = []
        start = 0
        for na, nb in shapes:
            out.append(flat[start : start + na * nb].reshape(na, nb))
            start += na * nb
        return out

    @torch.inference_mode()
    def score_pairs(
        self,
        enc_a: Encoded,
        idx_a: np.ndarray | Sequence[int],
        enc_b: Encoded,
        idx_b: np.ndarray | Sequence[int],
    ) -> np.ndarray:
        """P(same person) for the pairs (enc_a[idx_a[p]], enc_b[idx_b[p]]): (P,) float32 in [0, 1]."""
        ia = torch.as_tensor(np.asarray(idx_a, dtype=np.int64).reshape(-1), device=self.device)
        ib = torch.as_tensor(np.asarray(idx_b, dtype=np.int64).reshape(-1), device=self.device)
        if ia.shape != ib.shape:
            raise ValueError(f"idx_a and idx_b differ in length: {ia.numel()} vs {ib.numel()}")
        out = np.empty(ia.numel(), np.float32)
        for s in range(0, ia.numel(), self.pair_batch_size):
            summed = (
                enc_a.half_a[ia[s : s + self.pair_batch_size]]
                + enc_b.half_b[ib[s : s + self.pair_batch_size]]
            )
            out[s : s + summed.shape[0]] = self._prob(summed).cpu().numpy()
        return out

    def _prob(self, summed_halves: torch.Tensor) -> torch.Tensor:
        logits = self._head.forward_summed(summed_halves)
        return F.softmax(logits.float(), dim=1)[:, 1]

    @torch.inference_mode()
    def score_naive(self, crops_a_bgr: Sequence[np.ndarray], crops_b_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Reference path: P(same) for pairs (a_i, b_i) through the head over the concatenated maps.

        Slow (the correspondence conv runs per pair); for tests and benchmarks. Returns (N,) float32.
        """
        xa = bgr_to_input(stack_bgr(crops_a_bgr, self.input_size_hw), self.device)
        xb = bgr_to_input(stack_bgr(crops_b_bgr, self.input_size_hw), self.device)
        return F.softmax(self.model(xa, xb).float(), dim=1)[:, 1].cpu().numpy()


def _fused_trunk(trunk: torch.nn.Module) -> torch.nn.Module:
    """An eval-mode copy of ``trunk`` with Conv+BatchNorm pairs fused (torch.fx); unfused if fx fails."""
    import copy

    body = copy.deepcopy(trunk).eval()
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(body)
    except Exception:  # tracing is an optimisation only
        return body


def matcher_from_model(model: SiameseNet, device: str | torch.device = "auto", **kwargs: Any) -> Matcher:
    """Wrap an in-memory model (e.g. during training) in a :class:`Matcher`."""
    return Matcher(model, resolve_device(device), **kwargs)


def load_matcher(weights: str | Path | None = None, device: str = "auto") -> Matcher:
    """Load a trained network for inference.

    Args:
        weights: a ``.safetensors`` weights file (with its ``.json`` sidecar or embedded
            description); ``None`` = the shipped default in ``reid_core/weights/``.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        A :class:`Matcher` in eval mode (deterministic).

    Raises:
        WeightsError: the file is missing, corrupt, or does not fit the architecture it describes.
    """
    from infra.errors import ConfigError
    from infra.yaml_config import parse_dataclass
    from reid_core.weights import DEFAULT_WEIGHTS, load_into, load_weights

    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    tensors, meta = load_weights(path)
    try:
        cfg = parse_dataclass(ModelConfig, meta["model"], source=f"{path} (model description)")
    except ConfigError as err:
        raise WeightsError(str(err)) from None
    model = build_model(cfg, load_imagenet=False)
    model_tensors = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")} or tensors
    load_into(model, model_tensors, path)
    return Matcher(model.float(), resolve_device(device), meta=meta)
