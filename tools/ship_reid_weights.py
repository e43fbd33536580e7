"""Turn one evaluation checkpoint of a ``reid-train`` run into shipped re-ID weights.

A run folder holds ``eval_step_NNNNNN.safetensors`` (float32, with the trainer's metrics at that
step). Shipping one means: the tensors stored as float16, the description extended with where
they came from (``recipe``, ``source``; the trainer already wrote ``train_data`` and the
metrics), and both ONNX exports written next to them (the CPU default runs the re-ID on ONNX
Runtime, :mod:`reid_core.onnx_export`).

Example (the shipped default: the last evaluation of ``configs/reid/full.yaml``)::

    python tools/ship_reid_weights.py runs/full/eval_step_004000.safetensors \\
        --recipe configs/reid/full.yaml --out reid_core/weights/siamese_mobilenet_v2.safetensors

Refit the association's calibration for new weights afterwards (docs/association.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from infra.errors import UserError


def ship(checkpoint: Path, recipe: Path, out: Path) -> list[Path]:
    """Write ``out`` (float16 safetensors + JSON sidecar) and its two ONNX exports; returns the paths.

    Everything is written into a scratch folder beside ``out`` first and moved into place only
    when all four files exist, so a failure leaves the files at ``out`` as they were.

    Raises:
        UserError: unreadable checkpoint or recipe, a checkpoint that is not evaluation weights,
            or a recipe whose model is not the checkpoint's (the message names the file).
        OSError: ``out``'s folder cannot be written.
    """
    import tempfile

    from reid_core.onnx_export import export_onnx
    from reid_core.shipped import onnx_paths
    from reid_core.training.config import config_to_dict, load_train_config
    from reid_core.weights import FORMAT, load_weights, save_weights, sidecar_path

    cfg = load_train_config(recipe)
    tensors, meta = load_weights(checkpoint)
    if meta.get("format") != FORMAT:
        raise UserError(
            f"{checkpoint}: not evaluation weights (format {str(meta.get('format'))[:40]!r}); "
            "ship an eval_step_NNNNNN.safetensors"
        )
    if meta["model"] != config_to_dict(cfg.model):
        raise UserError(f"{recipe}: its model section is not the model of {checkpoint}")
    meta = dict(meta)
    meta["recipe"] = str(recipe)
    step = meta.get("step")
    meta["source"] = f"{checkpoint.parent.name}/{checkpoint.name} (step {step}), stored as float16"
    meta["metrics_note"] = (
        "metrics: single-shot rank-k (percent) on the held-out test ids of each data set's protocol "
        "split (split_seed), measured during training in float32"
    )
    finals = [out, sidecar_path(out), *onnx_paths(out)]
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ship-") as scratch:
        staged = Path(scratch) / out.name
        save_weights(staged, tensors, meta, half=True)
        export_onnx(staged)
        for final in finals:
            (Path(scratch) / final.name).replace(final)
    return [out, *onnx_paths(out)]


def main(argv: Sequence[str] | None = None) -> int:
    """One line per written file; ``error: …`` and exit 2 on a bad input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("checkpoint", type=Path, help="eval_step_NNNNNN.safetensors of a reid-train run")
    parser.add_argument("--recipe", type=Path, required=True, help="the run's configs/reid/*.yaml")
    parser.add_argument("--out", type=Path, required=True, help="the shipped .safetensors to write")
    args = parser.parse_args(argv)
    try:
        for path in ship(args.checkpoint, args.recipe, args.out):
            print(path)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # --out's folder missing or not writable, the disk full
        print(
            f"error: {args.out}: cannot write the weights ({err.strerror or type(err).__name__})",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
