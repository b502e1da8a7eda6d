"""Learned rescaling evaluation: inr.rescale.down -> inr.rescale.up on Set5/Set14.

    python benchmarks/eval_rescale.py                          # inr/rescale/weights/default.pt
    python benchmarks/eval_rescale.py --model training/rescale/checkpoint.pt
    python benchmarks/eval_rescale.py --datasets Set5 --scales 4 --max-images 1   # smoke run
    python benchmarks/eval_rescale.py --device cuda

Per dataset (Set5, Set14) and downscale factor (x2, x3, x3.7, x4), in one run, on the HR
images and LR sizes of `inr.sr.evaluate.load_pairs`:

- learned: `inr.rescale.down` -> PNG (lossless, uint8) -> `inr.rescale.up`;
- refined (--refine N steps, default 25, 0: none; at --refine-scales, default all):
  `inr.rescale.down(refine=N)` (the LR optimised for this picture, `inr.rescale.refine`)
  -> PNG -> `inr.rescale.up`, its gain, worst image and LR closeness;
- bicubic-down + `inr.upsample` (the shipped SR model, or --sr-model) and
  bicubic-down + bicubic-up (`inr.resize`), from the bicubic LR (the provided MATLAB LR
  at x2/x3/x4, `inr.resize` bicubic at x3.7);
- HR reconstruction Y-PSNR (BT.601, `ceil(scale)` pixels shaved, uint8 output) and the
  learned LR's RGB PSNR against the bicubic LR (`inr.rescale.evaluate`); the worst
  image's gain (a mean can hide one picture the learned pair spoils);
- JPEG: the learned LR and the bicubic LR saved as Pillow JPEG (--jpeg, default quality
  90 and 75, 4:2:0) before the upscale, for the learned pipeline and for bicubic-down +
  `inr.upsample`: what a lossy LR costs each of them.
- cycle (--cycle-scales, default x4): down, up, down again, up again
  (`inr.rescale.evaluate.evaluate_cycle`): the second LR's PSNR vs the bicubic LR within
  0.5 dB of the first's, the second LR vs the first, the second reconstruction's Y-PSNR;
  beside the same cycle of bicubic-down + `inr.upsample` (both LRs `inr.resize` bicubic).
- speed (--speed-threads, default 2; 0 skips): `down` + `up` of the 512x512 centre of
  kodim23 at x4 (to 128x128 and back), median of --speed-repeats runs after a warm-up,
  beside `inr.upsample` of the bicubic 128x128 LR to 512x512 (the baseline's upscale);
  `down` with --refine steps, timed once.
  Timed first: stop other work on the machine until its line is printed.

Targets: Set5 x4 reconstruction >= 2 dB above bicubic-down + inr.upsample (both rows carry it);
LR PSNR vs the bicubic LR >= 35 dB (checked at every scale). Writes
benchmarks/results/rescale_eval.json (schema in benchmarks/common.py) via report().
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_and_notes, model_run_setup, report, result, time_fn  # noqa: E402

import inr  # noqa: E402
from inr.rescale import load  # noqa: E402
from inr.rescale.evaluate import cycle_pipeline, evaluate, evaluate_cycle, evaluate_pipeline, pipeline  # noqa: E402
from inr.rescale.weights import DEFAULT_WEIGHTS  # noqa: E402
from inr.sr.upsample import resolve_model as resolve_sr  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr"
SPEED_IMAGE = DATA.parent / "kodak" / "kodim23.png"
DATASETS = ("Set5", "Set14")
SCALES = (2, 3, 3.7, 4)
GAIN_TARGETS = {("Set5", 4): 2.0}   # dB over bicubic-down + inr.upsample
LR_PSNR_TARGET = 35.0               # dB, learned LR vs bicubic LR
CYCLE_TOLERANCE = 0.5               # dB, second LR's PSNR vs bicubic within this of the first's


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _per_image(**runs: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Per-image PSNRs of several runs over the same images, side by side."""
    names = [r["name"] for r in next(iter(runs.values()))["images"]]
    rows = [{"name": n} for n in names]
    for key, run in runs.items():
        for row, img in zip(rows, run["images"]):
            row[key] = round(img["psnr"], 4)
            if img.get("lr_psnr") is not None:
                row[f"{key}_lr_psnr"] = round(img["lr_psnr"], 4)
    return rows


def gain_rows(label: str, learned: Dict[str, Any], sr: Dict[str, Any], ds: str, s: float) -> List[Dict[str, Any]]:
    """The gain of a learned pipeline over bicubic-down + inr.upsample, its worst image's and
    its LR's closeness to the bicubic LR; `label` names the pipeline in the row names."""
    worst = min(zip(learned["images"], sr["images"]), key=lambda pair: pair[0]["psnr"] - pair[1]["psnr"])
    return [result(f"{ds} x{s:g}{label} gain over bicubic-down + inr.upsample", learned["psnr"] - sr["psnr"], "dB",
                   target=GAIN_TARGETS.get((ds, s)), target_of="value", compare=False),
            result(f"{ds} x{s:g}{label} worst image: gain over bicubic-down + inr.upsample",
                   worst[0]["psnr"] - worst[1]["psnr"], "dB", compare=False,
                   detail={"image": worst[0]["name"], "lr_psnr": round(worst[0]["lr_psnr"], 4)}),
            result(f"{ds} x{s:g}{label} learned LR PSNR vs bicubic LR", learned["lr_psnr"], "dB",
                   target=LR_PSNR_TARGET, target_of="value", compare=False)]


def quality_rows(model, sr_model, datasets, scales, jpegs, device, max_images, refine: int = 0,
                 refine_scales=()) -> List[Dict[str, Any]]:
    def sr_up(lr, size):
        return inr.upsample(lr, size=size, model=sr_model, device=device)

    def bic_up(lr, size):
        return inr.resize(lr, size=size, kernel="bicubic")

    def bic_down(hr, bic_lr):
        return bic_lr

    rows = []
    for ds in datasets:
        for s in scales:
            t0 = time.perf_counter()
            kw = dict(dataset=ds, scale=s, root=DATA, max_images=max_images)
            learned = evaluate(model, device=device, **kw)
            sr = evaluate_pipeline(bic_down, sr_up, lr_metric=False, **kw)
            bic = evaluate_pipeline(bic_down, bic_up, lr_metric=False, **kw)
            log(f"  {ds} x{s:g}: learned {learned['psnr']:.2f} dB (LR {learned['lr_psnr']:.2f} dB vs bicubic), "
                f"bicubic+SR {sr['psnr']:.2f}, bicubic+bicubic {bic['psnr']:.2f} ({time.perf_counter() - t0:.1f} s)")
            common = {"lr_source": learned["lr_source"], "shave": learned["shave"], "n_images": learned["n_images"]}
            rows.append(result(f"{ds} x{s:g} reconstruction Y-PSNR", learned["psnr"], "dB", baseline=sr["psnr"],
                               compare=False, detail={**common, "bicubic_down_bicubic_up": round(bic["psnr"], 4),
                                                      "per_image": _per_image(learned=learned, sr=sr, bicubic=bic)}))
            rows += gain_rows("", learned, sr, ds, s)
            rows.append(result(f"{ds} x{s:g} bicubic-down + bicubic-up Y-PSNR", bic["psnr"], "dB", compare=False))
            if refine and s in refine_scales:
                t0 = time.perf_counter()
                refined = evaluate(model, device=device, refine=refine, **kw)
                log(f"    refined LR ({refine} steps): {refined['psnr']:.2f} dB (LR {refined['lr_psnr']:.2f} dB vs "
                    f"bicubic) ({time.perf_counter() - t0:.1f} s)")
                label = f" refined LR ({refine} steps):"
                rows.append(result(f"{ds} x{s:g}{label} reconstruction Y-PSNR", refined["psnr"], "dB",
                                   baseline=sr["psnr"], compare=False,
                                   detail={**common, "refine_steps": refine,
                                           "per_image": _per_image(refined=refined, learned=learned, sr=sr)}))
                rows += gain_rows(label, refined, sr, ds, s)
            for q in jpegs:
                lj = evaluate(model, device=device, jpeg=q, **kw)
                sj = evaluate_pipeline(bic_down, sr_up, jpeg=q, **kw)
                log(f"    JPEG q{q}: learned {lj['psnr']:.2f} dB ({lj['psnr'] - learned['psnr']:+.2f}), "
                    f"bicubic+SR {sj['psnr']:.2f} dB ({sj['psnr'] - sr['psnr']:+.2f})")
                rows.append(result(f"{ds} x{s:g} JPEG q{q} LR: reconstruction Y-PSNR", lj["psnr"], "dB",
                                   baseline=sj["psnr"], compare=False,
                                   detail={"jpeg_quality": q, "drop_vs_png": round(lj["psnr"] - learned["psnr"], 4),
                                           "baseline_drop_vs_png": round(sj["psnr"] - sr["psnr"], 4),
                                           "lr_psnr_vs_bicubic": round(lj["lr_psnr"], 4),
                                           "per_image": _per_image(learned=lj, sr=sj)}))
    return rows


def cycle_rows(model, sr_model, datasets, scales, device, max_images) -> List[Dict[str, Any]]:
    """The learned pipeline's cycle beside bicubic-down + inr.upsample's (both of its LRs
    `inr.resize` bicubic downscales, of the HR and of the upsampled picture)."""
    def sr_up(lr, size):
        return inr.upsample(lr, size=size, model=sr_model, device=device)

    def bic_down(hr, bic_lr):
        return inr.resize(hr, size=bic_lr.shape[:2], kernel="bicubic")

    rows = []
    for ds in datasets:
        for s in scales:
            c = evaluate_cycle(model, ds, s, device=device, root=DATA, max_images=max_images)
            b = cycle_pipeline(bic_down, sr_up, ds, s, root=DATA, max_images=max_images)
            change = c["lr2_psnr"] - c["lr_psnr"]
            log(f"  cycle {ds} x{s:g}: LR {c['lr_psnr']:.2f} -> {c['lr2_psnr']:.2f} dB vs bicubic, second LR "
                f"{c['lr2_vs_lr1']:.2f} dB from the first, reconstruction {c['psnr']:.2f} -> {c['psnr2']:.2f} dB; "
                f"bicubic+SR: second LR {b['lr2_vs_lr1']:.2f} dB from the first, "
                f"{b['psnr']:.2f} -> {b['psnr2']:.2f} dB")
            detail = {"n_images": c["n_images"], "per_image": c["images"], "baseline_per_image": b["images"]}
            rows.append(result(f"{ds} x{s:g} cycle: second LR PSNR vs bicubic LR minus the first's", change, "dB",
                               target=-CYCLE_TOLERANCE, target_of="value", compare=False,
                               detail={"first_lr_psnr": round(c["lr_psnr"], 4),
                                       "second_lr_psnr": round(c["lr2_psnr"], 4), **detail}))
            rows.append(result(f"{ds} x{s:g} cycle: second LR vs the first, RGB PSNR", c["lr2_vs_lr1"], "dB",
                               baseline=b["lr2_vs_lr1"], compare=False))
            rows.append(result(f"{ds} x{s:g} cycle: second reconstruction Y-PSNR", c["psnr2"], "dB",
                               baseline=b["psnr2"], compare=False,
                               detail={"first_reconstruction_psnr": round(c["psnr"], 4),
                                       "baseline_first_reconstruction_psnr": round(b["psnr"], 4)}))
    return rows


def speed_rows(model, sr_model, threads: int, repeats: int, refine: int = 0) -> List[Dict[str, Any]]:
    """down + up of a 512x512 picture at x4 on `threads` threads, beside inr.upsample; with
    `refine`, also down with that many refinement steps (timed once)."""
    with Image.open(SPEED_IMAGE) as im:
        rgb = np.asarray(im.convert("RGB"))
    top, left = (rgb.shape[0] - 512) // 2, (rgb.shape[1] - 512) // 2
    hr = np.ascontiguousarray(rgb[top:top + 512, left:left + 512])
    bic_lr = inr.resize(hr, size=(128, 128), kernel="bicubic")
    downscale, upscale = pipeline(model, "cpu")
    lr = downscale(hr, bic_lr)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t_down = time_fn(lambda: downscale(hr, bic_lr), warmup=1, repeats=repeats)["median"]
        t_up = time_fn(lambda: upscale(lr, (512, 512)), warmup=1, repeats=repeats)["median"]
        t_sr = time_fn(lambda: inr.upsample(bic_lr, size=(512, 512), model=sr_model, device="cpu"), warmup=1,
                       repeats=repeats)["median"]
        refine_down, _ = pipeline(model, "cpu", refine)
        t_refine = time_fn(lambda: refine_down(hr, bic_lr), warmup=0, repeats=1)["median"] if refine else None
    finally:
        torch.set_num_threads(previous)
    log(f"  speed ({threads} threads): down {t_down:.3f} s + up {t_up:.3f} s = {t_down + t_up:.3f} s; "
        f"inr.upsample 128 -> 512 {t_sr:.3f} s")
    detail = {"image": f"{SPEED_IMAGE.name}, the 512x512 centre", "threads": threads, "repeats": repeats}
    rows = [result("512x512 x4: down + up", t_down + t_up, "s", baseline=t_sr, higher_is_better=False,
                   detail={**detail, "down_s": round(t_down, 4), "up_s": round(t_up, 4),
                           "baseline": "inr.upsample of the bicubic 128x128 LR to 512x512"}),
            result("512x512 x4: down", t_down, "s", higher_is_better=False, compare=False, detail=detail),
            result("512x512 x4: up", t_up, "s", baseline=t_sr, higher_is_better=False, detail=detail)]
    if refine:
        log(f"  speed ({threads} threads): down with {refine} refinement steps {t_refine:.2f} s")
        rows.append(result(f"512x512 x4: down with {refine} refinement steps", t_refine, "s", higher_is_better=False,
                           compare=False, detail={**detail, "repeats": 1}))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help=f"checkpoint or weights (default {DEFAULT_WEIGHTS})")
    p.add_argument("--sr-model", default="default", help="SR model of the bicubic-down + inr.upsample baseline")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--scales", nargs="+", type=float, default=list(SCALES))
    p.add_argument("--jpeg", nargs="*", type=int, default=[90, 75], help="JPEG qualities (none: skip)")
    p.add_argument("--cycle-scales", nargs="*", type=float, default=[4], help="scales of the cycle rows (none: skip)")
    p.add_argument("--speed-threads", type=int, default=2, help="torch threads of the speed rows (0: skip)")
    p.add_argument("--speed-repeats", type=int, default=5)
    p.add_argument("--refine", type=int, default=25,
                   help="refinement steps of the refined-LR rows (inr.rescale.down(refine=N); 0: none)")
    p.add_argument("--refine-scales", nargs="*", type=float, default=list(SCALES), help="scales of the refined-LR rows")
    p.add_argument("--max-images", type=int, default=None, help="first N images per dataset (smoke runs)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args(argv)
    setup = model_run_setup(args, DEFAULT_WEIGHTS, DATA, log, "a broken install?")
    if setup is None:
        return 2
    path, device = setup
    machine, notes = machine_and_notes()
    model = load(path).to(device)
    sr_model = resolve_sr(args.sr_model).to(device)
    scales = [int(s) if float(s).is_integer() else s for s in args.scales]
    log(f"model {path} ({model.config}), device {device}")
    rows = []
    if args.speed_threads and SPEED_IMAGE.is_file():  # first, so that other work need pause only briefly
        rows += speed_rows(model, sr_model, args.speed_threads, args.speed_repeats, args.refine)
    elif args.speed_threads:
        log(f"note: no {SPEED_IMAGE}: speed rows skipped")
    refine_scales = [int(s) if float(s).is_integer() else s for s in args.refine_scales]
    rows += quality_rows(model, sr_model, args.datasets, scales, args.jpeg, device, args.max_images, args.refine,
                         refine_scales)
    cycle_scales = [int(s) if float(s).is_integer() else s for s in args.cycle_scales]
    rows += cycle_rows(model, sr_model, args.datasets, cycle_scales, device, args.max_images)
    if hasattr(model, "down_net"):
        rows.append(result("parameters: downscaler", n_params(model.down_net), "params", compare=False))
        rows.append(result("parameters: upscaler", n_params(model.up_net), "params",
                           baseline=n_params(sr_model), compare=False))
    else:  # the invertible design: one network both ways
        rows.append(result("parameters: rescaler (both ways)", n_params(model), "params",
                           baseline=n_params(sr_model), compare=False))
    notes.append("reconstruction: Y-PSNR (BT.601, [0, 255] scale, float), ceil(scale) pixels shaved, uint8 output; "
                 "LR PSNR: all RGB channels of the uint8 learned LR against the bicubic LR, no shave")
    notes.append("bicubic LR: the provided MATLAB-bicubic files at x2/x3/x4, inr.resize bicubic at x3.7 "
                 "(HR cropped to round(lr * s)); the learned LR has the same size")
    notes.append("JPEG rows: value = learned pipeline with a JPEG LR, baseline = bicubic-down (JPEG) + inr.upsample")
    if args.max_images:
        notes.append(f"only the first {args.max_images} image(s) per dataset: not comparable with full runs")
    name = "rescale_eval"
    settings = {"model": str(path), "model_config": model.config, "sr_model": str(args.sr_model),
                "device": device, "datasets": list(args.datasets), "scales": scales, "jpeg": list(args.jpeg),
                "cycle_scales": cycle_scales, "refine": args.refine, "refine_scales": refine_scales,
                "speed_threads": args.speed_threads, "max_images": args.max_images}
    return report(name, rows, args.output or RESULTS_DIR / f"{name}.json", "bicubic-down + inr.upsample", log,
                  settings=settings, notes=notes, machine=machine)


if __name__ == "__main__":
    sys.exit(main())
