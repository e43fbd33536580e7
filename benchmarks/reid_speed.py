"""Speed of the Siamese correspondence network on this machine, for both trunks.

Prints, per trunk (random weights: speed does not depend on their values; the paper's head
widths, C' = C):

* trunk crops/s: the trunk alone (plain eval model, and BatchNorm-fused as :class:`Matcher` runs
  it), and ``Matcher.encode`` end to end (trunk + both half-responses + embedding, from 160 × 80
  BGR crops, BGR→RGB and normalisation included);
* head pairs/s: **naive** (correspondence conv over the concatenated maps, per pair), and
  **decomposed** (cached half-responses, sum + rest of the head), plain and fused
  (``Matcher.score``); the speed-up of decomposed over naive;
* model size: parameters and megabytes in float32 / float16.

Usage::

    python benchmarks/reid_speed.py [--trunks mobilenet_v2 googlenet] [--device cpu] [--seconds 3]

Numbers are the best of repeated timed runs of about ``--seconds`` each. Run it on an idle
machine: other processes on the same cores lower every figure.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch


def _rate(fn: Callable[[], object], items: int, seconds: float, device: torch.device) -> float:
    """Best items/s over repeated calls of ``fn`` (one warm-up call first)."""
    fn()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    runs = 0
    while runs < 3 or time.perf_counter() < deadline:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return items / best


def bench_trunk(name: str, device: torch.device, seconds: float, crops: int, pairs: int) -> dict[str, float]:
    from reid_core.inference import Matcher
    from reid_core.model import ModelConfig, build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(trunk=name, pretrained=False), load_imagenet=False).eval().to(device)
    matcher = Matcher(model, device, batch_size=crops)
    head = model.head
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    rng = np.random.default_rng(0)
    bgr = [rng.integers(0, 256, (160, 80, 3), dtype=np.uint8) for _ in range(crops)]
    x = torch.randn(crops, 3, 160, 80, device=device)
    out: dict[str, float] = {"params_M": params / 1e6}
    out["size_fp32_MB"] = (params + buffers) * 4 / 2**20
    out["size_fp16_MB"] = (params + buffers) * 2 / 2**20
    with torch.inference_mode():
        out["trunk_plain_crops_s"] = _rate(lambda: model.trunk(x), crops, seconds, device)
        out["trunk_fused_crops_s"] = _rate(lambda: matcher._trunk(x), crops, seconds, device)
        out["encode_crops_s"] = _rate(lambda: matcher.encode(bgr), crops, seconds, device)

        maps = model.trunk(x)
        enc = matcher.encode(bgr)
        c = head.corr_channels
        plain_halves = head.halves(maps)
        ha, hb = plain_halves[:, :c], plain_halves[:, c:]
        g = torch.Generator().manual_seed(0)
        ia = torch.randint(0, crops, (pairs,), generator=g).to(device)
        ib = torch.randint(0, crops, (pairs,), generator=g).to(device)
        out["head_naive_pairs_s"] = _rate(
            lambda: head.forward_naive(maps[ia], maps[ib]), pairs, seconds, device
        )
        out["head_decomposed_plain_pairs_s"] = _rate(
            lambda: head.forward_summed(ha[ia] + hb[ib]), pairs, seconds, device
        )
        side = max(1, round(pairs**0.5))
        sub_a, sub_b = enc[np.arange(side) % crops], enc[np.arange(side) % crops]
        out["head_decomposed_fused_pairs_s"] = _rate(
            lambda: matcher.score(sub_a, sub_b), side * side, seconds, device
        )
    out["speedup_decomposed_fused_vs_naive"] = (
        out["head_decomposed_fused_pairs_s"] / out["head_naive_pairs_s"]
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trunks", nargs="+", default=["mobilenet_v2", "googlenet"], help="trunk names")
    p.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    p.add_argument("--seconds", type=float, default=3.0, help="timing budget per figure, seconds")
    p.add_argument("--crops", type=int, default=64, help="crops per trunk batch")
    p.add_argument("--pairs", type=int, default=1024, help="pairs per head batch (googlenet: a quarter)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    from infra.device import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu, {torch.get_num_threads()} threads"
    )
    print(f"# reid_speed: torch {torch.__version__}, {where}")
    rows = []
    for name in args.trunks:
        pairs = args.pairs if name != "googlenet" else max(16, args.pairs // 4)
        r = bench_trunk(name, device, args.seconds, args.crops, pairs)
        rows.append((name, r))
        print(f"{name}: " + " ".join(f"{k}={v:.1f}" for k, v in r.items()), flush=True)
    print()
    print("| trunk | params (M) | fp16 MB | trunk crops/s (plain / fused) | encode crops/s "
          "| head pairs/s naive | decomposed (plain / fused) | speed-up |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['params_M']:.2f} | {r['size_fp16_MB']:.1f} "
            f"| {r['trunk_plain_crops_s']:.0f} / {r['trunk_fused_crops_s']:.0f} | {r['encode_crops_s']:.0f} "
            f"| {r['head_naive_pairs_s']:.0f} "
            f"| {r['head_decomposed_plain_pairs_s']:.0f} / {r['head_decomposed_fused_pairs_s']:.0f} "
            f"| {r['speedup_decomposed_fused_vs_naive']:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
