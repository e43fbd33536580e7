"""How cost grows with cameras and input length: frames/s and peak RSS, to size a machine.

Runs ``reid-pipeline`` (default config, or ``--config``) in a subprocess on inputs built from the
committed sample by ``benchmarks/speed_inputs.py``: 1, 2, 4, 8 and 16 cameras (camera ``i`` is a
copy of cam_a or cam_b with its own id, 179 frames each) and the two cameras at 10× the length
(1,790 frames each, played back and forth). For each: frames/s of the whole process (interpreter
start to exit) and of the pipeline's own ``wall time`` (models loaded to outputs written),
the camera count it sustains in real time at 25 fps (fps ÷ 25), peak RSS (``os.wait4``) in all
and per camera, and the pipeline's stage figures.

Usage (from the repo root)::

    python benchmarks/cost_growth.py [--cams 1 2 4 8 16] [--longer 10] [--config C] [--markdown]

Results go to stdout and ``runs/bench/cost_growth.json``. The machine may be shared: the load
average is recorded before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pipeline_speed import parse_summary, run_child  # noqa: E402
from speed_inputs import camera_files, make_inputs  # noqa: E402

REALTIME_FPS = 25.0


def measure(folder: Path, work: Path, name: str, config: Path | None) -> dict[str, Any]:
    """One pipeline run on every camera of ``folder``."""
    cams = camera_files(folder)
    out = work / f"tracks-{name}.json"
    cmd = [sys.executable, "-c", "import sys; from pipeline.cli import main; sys.exit(main())",
           "--cams", *map(str, cams), "--out", str(out), "--overwrite", "--progress", "off"]  # fmt: skip
    if config is not None:
        cmd += ["--config", str(config)]
    load_before = os.getloadavg()[0]
    res = run_child(cmd, work / f"{name}.log")
    res.update(name=name, cameras=len(cams), load_before=load_before, load_after=os.getloadavg()[0])
    text = (work / f"{name}.log").read_text(encoding="utf-8", errors="replace")
    if res["returncode"] != 0:
        res["error"] = text.strip().splitlines()[-1:] or ["(no output)"]
        return res
    stages = parse_summary(text)
    frames = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("frames: "))
    res.update(
        frames=frames,
        fps_process=frames / res["wall_s"],
        fps_loaded=stages["end-to-end"]["fps"],
        stages={s: v["fps"] for s, v in stages.items() if s != "end-to-end"},
        detector=next((line[10:] for line in text.splitlines() if line.startswith("detector: ")), ""),
    )
    return res


def table(results: list[dict[str, Any]], markdown: bool) -> str:
    head = ["input", "cameras", "frames", "frames/s (whole process)", "frames/s (loaded → done)",
            "cameras at 25 fps", "peak RSS MiB", "MiB per camera", "detect fps", "re-ID fps",
            "load avg"]  # fmt: skip
    rows = []
    for r in results:
        if r["returncode"] != 0:
            rows.append([r["name"], str(r["cameras"]), "failed", *[""] * (len(head) - 3)])
            continue
        rows.append([
            r["name"], str(r["cameras"]), str(r["frames"]), f"{r['fps_process']:.1f}",
            f"{r['fps_loaded']:.1f}",
            f"{r['fps_loaded'] / REALTIME_FPS:.2f}", f"{r['peak_rss_mib']:.0f}",
            f"{r['peak_rss_mib'] / r['cameras']:.0f}", f"{r['stages'].get('detect', 0):.0f}",
            f"{r['stages'].get('reid', 0):.0f}", f"{r['load_before']:.1f}–{r['load_after']:.1f}",
        ])  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [head, *rows])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cams", type=int, nargs="+", default=[1, 2, 4, 8, 16], help="camera counts")
    parser.add_argument("--longer", type=int, default=10, help="length factor of the long input (0 = skip)")
    parser.add_argument("--config", type=Path, default=None, help="pipeline config (default: shipped)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    args = parser.parse_args(argv)
    work = args.out / "cost_growth"
    work.mkdir(parents=True, exist_ok=True)
    inputs = [(f"{n} camera{'s' * (n > 1)}", make_inputs(n, 1)) for n in args.cams]
    if args.longer > 1:
        inputs.append((f"2 cameras, {args.longer}x longer", make_inputs(2, args.longer)))
    results = []
    for name, folder in inputs:
        res = measure(folder, work, name.replace(" ", "_").replace(",", ""), args.config)
        res["name"] = name
        results.append(res)
        status = "ok" if res["returncode"] == 0 else f"failed: {res.get('error')}"
        print(f"{name}: {status}, wall {res['wall_s']:.1f} s, peak RSS {res['peak_rss_mib']:.0f} MiB",
              file=sys.stderr)  # fmt: skip
    (args.out / "cost_growth.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    detector = next((r.get("detector") for r in results if r.get("detector")), "?")
    print(f"detector: {detector}; cores {os.cpu_count()}")
    print(table(results, args.markdown))
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
