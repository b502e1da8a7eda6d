"""SR evaluation (DESIGN.md section 5): quality on Set5/Set14 and CUF vs LIIF speed.

    python benchmarks/eval_sr.py                       # inr/sr/weights/default.pt
    python benchmarks/eval_sr.py --model training/run/checkpoint.pt
    python benchmarks/eval_sr.py --quick               # Set5 x4 only -> sr_eval_quick.json
    python benchmarks/eval_sr.py --device cuda

Quality: Set5 and Set14 at x2/x3/x4 (provided MATLAB-bicubic LR) and x3.7/x6/x8/x12 (LR
made with inr.resize bicubic from the HR, see inr.sr.evaluate), Y-PSNR and SSIM with
`scale` pixels shaved, the model and bicubic upsampling of the same LR in the same run.
One PSNR row per (dataset, scale): value = model, baseline = bicubic, detail = SSIMs, the
gain and per-image numbers. Targets: Set5 x4 >= 31.4 dB, Set14 x4 >= 28.05 dB (value);
every other scale above bicubic, >= +0.5 dB at x12 (recorded as target on the PSNR
gain in a separate "gain" row). Self-ensemble (`inr.upsample(..., ensemble=True)`, the mean
over the 8 flips / transposes) at x4 (where the targets are): one more PSNR row per dataset, with the
same targets (reported apart: it costs 8x the time).

Speed: the model forward (encoder + head, untiled, no grad) on a 256x256 input at x4
(1024x1024 output), CUF head vs a LIIF head on the same encoder (weights copied), and the
parameter counts. The LIIF head comes from --liif PATH when given (a trained LIIF model
with the same encoder size), else it is randomly initialised (said in the notes: its speed
is meaningful, its quality is not). Target: CUF >= 3x faster at equal or better PSNR: with
--liif, Set5/Set14 x4 PSNR rows "CUF vs LIIF" (value CUF, baseline LIIF) and their
mean difference (target >= 0 dB).

Writes benchmarks/results/sr_eval.json (schema in benchmarks/common.py) via report().
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, model_run_setup, report, result, time_fn  # noqa: E402

from inr.sr import load, make_model  # noqa: E402
from inr.sr.evaluate import evaluate, evaluate_bicubic  # noqa: E402
from inr.sr.upsample import DEFAULT_WEIGHTS  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr"
DATASETS = ("Set5", "Set14")
SCALES = (2, 3, 4, 3.7, 6, 8, 12)
VALUE_TARGETS = {("Set5", 4): 31.4, ("Set14", 4): 28.05}
GAIN_TARGETS = {12: 0.5}          # dB over bicubic; every other scale: >= 0.01 ("above")
SPEED_TARGET = 3.0
ENSEMBLE_SCALES = (4,)
LIIF_SCALES = (4,)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def quality_rows(model, datasets, scales, device) -> Tuple[List[Dict[str, Any]], Dict[Tuple[str, float], float]]:
    """The quality rows, and the model's PSNR per (dataset, scale) for the LIIF comparison."""
    rows, psnr = [], {}
    for ds in datasets:
        for s in scales:
            t0 = time.perf_counter()
            m = evaluate(model, ds, s, device=device, root=DATA)
            b = evaluate_bicubic(ds, s, root=DATA)
            gain = m["psnr"] - b["psnr"]
            psnr[(ds, s)] = m["psnr"]
            log(f"  {ds} x{s:g}: model {m['psnr']:.2f} dB / {m['ssim']:.4f}, bicubic {b['psnr']:.2f} dB / "
                f"{b['ssim']:.4f} ({time.perf_counter() - t0:.1f} s)")
            detail = {"ssim": round(m["ssim"], 5), "ssim_bicubic": round(b["ssim"], 5),
                      "psnr_gain_db": round(gain, 4), "lr_source": m["lr_source"], "shave": m["shave"],
                      "n_images": m["n_images"],
                      "per_image": [{"name": a["name"], "psnr": round(a["psnr"], 4), "ssim": round(a["ssim"], 5),
                                     "psnr_bicubic": round(c["psnr"], 4), "ssim_bicubic": round(c["ssim"], 5)}
                                    for a, c in zip(m["images"], b["images"])]}
            target = VALUE_TARGETS.get((ds, s))
            rows.append(result(f"{ds} x{s:g} Y-PSNR", m["psnr"], "dB", baseline=b["psnr"], target=target,
                               target_of="value", compare=False, detail=detail))
            rows.append(result(f"{ds} x{s:g} Y-PSNR gain over bicubic", gain, "dB",
                               target=GAIN_TARGETS.get(s, 0.01), target_of="value", compare=False,
                               detail={"ssim_gain": round(m["ssim"] - b["ssim"], 5)}))
            rows.append(result(f"{ds} x{s:g} SSIM", m["ssim"], "", baseline=b["ssim"], compare=False))
    return rows, psnr


def ensemble_rows(model, datasets, scales, device) -> List[Dict[str, Any]]:
    rows = []
    for ds in datasets:
        for s in scales:
            t0 = time.perf_counter()
            m = evaluate(model, ds, s, device=device, root=DATA, ssim=False, ensemble=True)
            log(f"  {ds} x{s:g} self-ensemble: {m['psnr']:.2f} dB ({time.perf_counter() - t0:.1f} s)")
            rows.append(result(f"{ds} x{s:g} Y-PSNR, self-ensemble x8", m["psnr"], "dB",
                               target=VALUE_TARGETS.get((ds, s)), target_of="value", compare=False,
                               detail={"per_image": [{"name": a["name"], "psnr": round(a["psnr"], 4)}
                                                     for a in m["images"]]}))
    return rows


def liif_quality_rows(cuf_psnr: Dict[Tuple[str, float], float], liif, datasets, scales,
                      device) -> List[Dict[str, Any]]:
    """LIIF on the cases `quality_rows` measured the CUF model on (its PSNR in `cuf_psnr`)."""
    rows, diffs = [], []
    for ds in datasets:
        for s in scales:
            t0 = time.perf_counter()
            c = cuf_psnr[(ds, s)]
            q = evaluate(liif, ds, s, device=device, root=DATA, ssim=False)
            diffs.append(c - q["psnr"])
            log(f"  {ds} x{s:g}: CUF {c:.2f} dB, LIIF {q['psnr']:.2f} dB ({time.perf_counter() - t0:.1f} s)")
            rows.append(result(f"{ds} x{s:g} Y-PSNR, CUF vs LIIF head", c, "dB", baseline=q["psnr"], compare=False))
    rows.append(result("Y-PSNR CUF minus LIIF, mean over " + "/".join(datasets) + " x"
                       + "/".join(f"{s:g}" for s in scales), sum(diffs) / len(diffs), "dB", target=0.0,
                       target_of="value", compare=False, detail={"per_case": [round(d, 4) for d in diffs]}))
    return rows


def speed_rows(model, liif, size: int, device: str, repeats: int, notes: List[str]) -> List[Dict[str, Any]]:
    cfg = dict(model.config)
    cuf = model.to(device).eval()
    if liif is not None:
        liif = liif.to(device).eval()
        if liif.config.get("size") != cfg.get("size"):
            notes.append(f"--liif has encoder {liif.config.get('size')}, the CUF model "
                         f"{cfg.get('size')}: the speed comparison is not on the same encoder")
    else:
        liif = make_model(cfg.get("size", "small"), "liif")
        liif.encoder.load_state_dict(cuf.encoder.state_dict())
        liif = liif.to(device).eval()
        notes.append("LIIF head randomly initialised (no trained LIIF given with --liif) on the CUF model's "
                     "encoder: its speed is meaningful, its quality is not")
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    out_size = (4 * size, 4 * size)
    timings = {}
    for name, net in (("CUF", cuf), ("LIIF", liif)):
        def run(net=net):
            with torch.no_grad():
                return net(x, out_size=out_size)
        log(f"  speed {name}: {size}x{size} -> {out_size[1]}x{out_size[0]} on {device} ...")
        reps = repeats if name == "CUF" else max(1, repeats // 2)
        timings[name] = time_fn(run, warmup=1, repeats=reps, device=device)
        log(f"    median {timings[name]['median'] * 1e3:.1f} ms")
    cuf_ms, liif_ms = timings["CUF"]["median"] * 1e3, timings["LIIF"]["median"] * 1e3
    enc, cuf_head, liif_head = n_params(cuf.encoder), n_params(cuf.head), n_params(liif.head)
    return [
        result(f"x4 forward {size}x{size} -> {4 * size}x{4 * size}, CUF vs LIIF head ({device})", cuf_ms, "ms",
               baseline=liif_ms, target=SPEED_TARGET, higher_is_better=False,
               detail={"cuf": timings["CUF"], "liif": timings["LIIF"], "encoder": cfg.get("size")}),
        result("parameters: CUF head", cuf_head, "params", baseline=liif_head, higher_is_better=False,
               detail={"encoder": enc, "cuf_total": enc + cuf_head, "liif_total": enc + liif_head}),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help=f"checkpoint or weights (default {DEFAULT_WEIGHTS})")
    p.add_argument("--liif", type=Path, default=None, help="a trained LIIF model for the speed and PSNR comparison")
    p.add_argument("--quick", action="store_true", help="Set5 x4 only (and a 64x64 speed input on CPU)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--speed-size", type=int, default=None, help="speed input side (default 256; 64 with --quick on CPU)")
    p.add_argument("--repeats", type=int, default=None, help="timing repeats (default 10 on GPU, 3 on CPU)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)
    setup = model_run_setup(args, DEFAULT_WEIGHTS, DATA, log, "no shipped weights yet")
    if setup is None:
        return 2
    path, device = setup
    machine, notes = machine_and_notes()
    model = load(path)
    datasets, scales = (("Set5",), (4,)) if args.quick else (DATASETS, SCALES)
    size = args.speed_size or (64 if args.quick and device == "cpu" else 256)
    if size != 256:
        notes.append(f"speed measured on a {size}x{size} input (not the 256x256 of the protocol)")
    repeats = args.repeats or (10 if device.startswith("cuda") else 3)
    log(f"model {path} ({model.config}), device {device}")
    liif = load(args.liif) if args.liif else None
    rows, cuf_psnr = quality_rows(model, datasets, scales, device)
    rows += ensemble_rows(model, datasets, [s for s in scales if s in ENSEMBLE_SCALES], device)
    if liif is not None:
        rows += liif_quality_rows(cuf_psnr, liif, datasets, [s for s in scales if s in LIIF_SCALES], device)
    rows += speed_rows(model, liif, size, device, repeats, notes)
    notes.append("PSNR/SSIM on Y (BT.601, [0, 255] scale, float), `scale` pixels shaved, model output "
                 "quantised to uint8; SSIM: 11x11 Gaussian sigma 1.5, valid filtering (inr.sr.evaluate)")
    notes.append("x3.7/x6/x8/x12: LR made with inr.resize bicubic from the HR cropped to round(lr * s)")
    name = "sr_eval_quick" if args.quick else "sr_eval"
    settings = {"model": str(path), "model_config": model.config, "device": device, "quick": args.quick,
                "datasets": list(datasets), "scales": list(scales), "speed_size": size, "repeats": repeats,
                "liif": str(args.liif) if args.liif else None}
    return report(name, rows, args.output or RESULTS_DIR / f"{name}.json", "bicubic / LIIF", log,
                  settings=settings, notes=notes, machine=machine)


if __name__ == "__main__":
    sys.exit(main())
