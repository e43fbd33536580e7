"""CMC benchmark of a Siamese weights file on CUHK01-100 and CUHK03-pair-1 val, full vs shortlist.

For each data set it draws the paper's single-shot split (``load_split``, ``--seed``, trial 0):

- ``cuhk01``: 100 random test identities of ``../shared/data/reid/cuhk01`` (query camera A,
  gallery camera B, 100 × 100);
- ``cuhk03``: the 100 ``val`` identities of ``../shared/data/reid/cuhk03_labeled_pair1``
  (camera pair 1 only: not the full CUHK03 protocol);
- ``video-crops``: the held-out people of the ``video_crops`` data set (``--video-crops``,
  default ``runs/video_crops``, made by ``python -m reid_core.data.mot_crops --data-root
  ../shared/data --out runs/video_crops --stride 2 --min-height 40``: TUD-Stadtmitte's 10
  people, multi-shot, first half of each person's frames against the second half). When the
  folder is absent the benchmark says so on stderr and leaves the row out.

and ranks with :func:`reid_core.evaluate.evaluate_split`: the pair head over the whole gallery
(``full``), and the embedding shortlist re-ranked by the pair head for each ``--shortlist`` k.
Each row gives rank-1/5/10/20 and mAP (percent) and the wall time of the whole evaluation
(decoding + trunk + ranking), single process, ``torch.set_num_threads(--threads)``.

The ``baseline`` row needs no trained model: cosine similarity of globally average-pooled
ImageNet MobileNetV2 features (``torchvision.models.mobilenet_v2`` ``features`` → 1280-d,
input 160 × 80 RGB, ImageNet normalisation) from ``../shared/data/weights/mobilenet_v2-b0353104.pth``.

Usage (from the repo root)::

    python benchmarks/reid_cmc.py [--weights reid_core/weights/X.safetensors] [--seed 0]
                                  [--shortlist 10 20 50] [--baseline-only] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reid_core.data.splits import load_split  # noqa: E402
from reid_core.evaluate import CMCResult, evaluate_split  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DATASETS = {
    "cuhk01": ("cuhk01", DATA / "reid" / "cuhk01"),
    "cuhk03-pair1": ("cuhk03", DATA / "reid" / "cuhk03_labeled_pair1"),
}
MOBILENET = DATA / "weights" / "mobilenet_v2-b0353104.pth"


class PooledImageNetBaseline:
    """Matcher-like baseline: L2-normalised average-pooled MobileNetV2 ImageNet features; score = cosine."""

    def __init__(self, weights: Path, device: str = "cpu") -> None:
        import torch
        import torchvision

        self.torch = torch
        self.device = torch.device(
            "cuda"
            if device == "auto" and torch.cuda.is_available()
            else ("cpu" if device == "auto" else device)
        )
        net = torchvision.models.mobilenet_v2()
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.features = net.features.eval().to(self.device)
        self.mean = torch.tensor([0.485, 0.456, 0.406], device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225], device=self.device).view(1, 3, 1, 1)

    def encode_paths(self, paths: Sequence[Path]) -> np.ndarray:
        import cv2

        torch = self.torch
        out = []
        for start in range(0, len(paths), 64):
            batch = []
            for p in paths[start : start + 64]:
                bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
                if bgr is None:
                    raise FileNotFoundError(p)
                batch.append(cv2.resize(bgr, (80, 160), interpolation=cv2.INTER_LINEAR)[:, :, ::-1])  # → RGB
            x = torch.from_numpy(np.ascontiguousarray(np.stack(batch))).to(self.device)
            x = (x.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
            with torch.inference_mode():
                f = self.features(x).mean(dim=(2, 3))
            out.append(torch.nn.functional.normalize(f, dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def embed(self, enc: np.ndarray) -> np.ndarray:
        return enc

    def score(self, enc_q: np.ndarray, enc_g: np.ndarray) -> np.ndarray:
        return enc_q @ enc_g.T

    def score_pairs(self, enc_a: np.ndarray, idx_a: Any, enc_b: np.ndarray, idx_b: Any) -> np.ndarray:
        return np.sum(enc_a[np.asarray(idx_a)] * enc_b[np.asarray(idx_b)], axis=1)


def _row(data: str, method: str, result: CMCResult, seconds: float) -> str:
    c = result.cmc * 100
    return (
        f"| {data} | {method} | {c[0]:.1f} | {c[4]:.1f} | {c[9]:.1f} | {c[19]:.1f} | {result.mAP * 100:.1f} "
        f"| {seconds:.2f} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="weights file (default: shipped default)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    parser.add_argument("--shortlist", type=int, nargs="*", default=[10, 20, 50], help="shortlist k values")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--baseline-only", action="store_true", help="only the untrained ImageNet baseline")
    parser.add_argument("--no-baseline", action="store_true", help="skip the untrained ImageNet baseline")
    parser.add_argument(
        "--video-crops",
        type=Path,
        default=ROOT / "runs" / "video_crops",
        help="video_crops data set folder (default runs/video_crops; see the module docstring)",
    )
    args = parser.parse_args(argv)
    datasets = dict(DATASETS)
    if (args.video_crops / "val").is_dir():
        datasets["video-crops"] = ("video_crops", args.video_crops)
    else:
        print(
            f"note: {args.video_crops}/val absent: no video-crops row "
            "(build it with python -m reid_core.data.mot_crops --data-root ...)",
            file=sys.stderr,
        )

    import torch

    torch.set_num_threads(args.threads)
    matchers: list[tuple[str, Any, list[int | None]]] = []
    if not args.no_baseline:
        matchers.append(
            (
                "baseline (pooled ImageNet MobileNetV2, cosine)",
                PooledImageNetBaseline(MOBILENET, args.device),
                [None],
            )
        )
    if not args.baseline_only:
        from reid_core.inference import load_matcher

        name = str(args.weights) if args.weights else "shipped default"
        matchers.append((name, load_matcher(args.weights, device=args.device), [None, *args.shortlist]))

    print(
        f"# {platform.node()} · {platform.processor() or platform.machine()} · torch {torch.__version__} "
        f"· {args.threads} thread(s) · device {args.device} · seed {args.seed}"
    )
    print("| data | model / ranking | rank-1 | rank-5 | rank-10 | rank-20 | mAP | time s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, (name, root) in datasets.items():
        split = load_split(name, root, seed=args.seed)
        for model_name, matcher, ks in matchers:
            for k in ks:
                start = time.perf_counter()
                result = evaluate_split(matcher, split, shortlist_k=k)
                seconds = time.perf_counter() - start
                method = (
                    model_name
                    if k is None and "baseline" in model_name
                    else (f"{model_name}, {'full pair ranking' if k is None else f'shortlist k={k}'}")
                )
                print(
                    _row(f"{label} ({len(split.query)}×{len(split.gallery)})", method, result, seconds),
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
