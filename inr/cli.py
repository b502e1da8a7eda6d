"""The `inr` command line: `inr fit IMAGE -o FIT.pt`, `inr render FIT.pt -o OUT.png`,
`inr resize IN... -o OUT --scale S | --size WxH`,
`inr upsample IN... -o OUT --scale S | --size WxH [--model PATH] [--device D] [--ensemble]`,
`inr rescale down|up IN... -o OUT --scale S | --size WxH [--model PATH] [--refine N]` (S may be a fraction: 1/3.7),
`inr encode IN... -o OUT [--quality Q | --bpp B | --psnr P | --lossless] [--jobs N]`, `inr decode IN.inr
-o OUT.png [--scale S | --size WxH]`, `inr convert IN... OUT` (either side .inr; files, folders or
globs into a folder, one worker process per core), `inr info FILE.inr`.

Each subcommand is one entry of COMMANDS: a function adding its arguments and a function
running it. Writes are atomic and never overwrite without --force; bad input ends with
one line `inr: error: ...` on stderr and a non-zero exit status (2 for usage, 1 otherwise).
"""
from __future__ import annotations

import argparse
import glob
import io
import os
import re
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

from PIL import Image

__all__ = ["main", "COMMANDS"]


class CLIError(ValueError):
    """A user error: printed as one line, exit status `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise CLIError(message, code=2)


def _size(text: str) -> Tuple[int, int]:
    """'WxH' -> (height, width)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"bad size {text!r}; expected WxH with positive integers, e.g. 1024x768")
    return int(match.group(2)), int(match.group(1))


def _positive(kind: Callable):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value
    return parse


def _fraction(text: str) -> float:
    """A positive real, also written as a fraction 'A/B' (e.g. 1/3.7)."""
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number or fraction like 1/3.7, got {text!r}")
    return value


def _check_output(path: str, force: bool) -> None:
    if os.path.exists(path) and not force:
        raise CLIError(f"{path} exists; use --force to overwrite")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"output folder {folder} does not exist")


def _check_input(path: str) -> None:
    if not os.path.isfile(path):
        raise CLIError(f"{path}: no such file")


# --- fit ------------------------------------------------------------------------------

def _add_fit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image file (PNG, JPEG, TIFF, ...)")
    parser.add_argument("-o", "--output", required=True, help="where to write the fit (.pt)")
    parser.add_argument("--steps", type=_positive(int), help="stop after this many steps")
    parser.add_argument("--seconds", type=_positive(float), help="stop after this much time")
    parser.add_argument("--target-psnr", type=_positive(float), help="stop at this PSNR (dB)")
    parser.add_argument("--device", default=None, help="torch device to train on (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--model", default="hashgrid",
                        help="network family: hashgrid (default), siren, fourier, poly or bitplane")
    parser.add_argument("--lossless", action="store_true",
                        help="bitplane only: train until every bit is right (render then equals the input)")


def _run_fit(args: argparse.Namespace) -> None:
    from inr.fit import fit

    _check_input(args.image)
    _check_output(args.output, args.force)
    image = _read_image(args.image)
    result = fit(image, steps=args.steps, seconds=args.seconds, target_psnr=args.target_psnr,
                 device=args.device, seed=args.seed, progress=not args.quiet, model=args.model,
                 lossless=args.lossless)
    result.save(args.output)
    if not args.quiet:
        ber = "" if result.ber is None else f", bit error rate {result.ber:.3g}"
        print(f"{args.output}: {result.psnr:.2f} dB{ber} after {result.steps} steps ({result.seconds:.1f} s)")


def _read_image(path: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except OSError as error:
        raise CLIError(f"{path}: cannot read image ({error})") from None


# --- render ---------------------------------------------------------------------------

def _add_render(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fit", help="a fit written by `inr fit` (.pt)")
    parser.add_argument("-o", "--output", required=True, help="image file to write; format from the extension")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scale", type=_positive(float), help="output size = fitted size x SCALE")
    group.add_argument("--size", type=_size, help="output size WxH")
    parser.add_argument("--device", default=None, help="torch device to render on (default cpu)")


def _run_render(args: argparse.Namespace) -> None:
    from inr.fit import atomic_write, load

    _check_input(args.fit)
    _check_output(args.output, args.force)
    image_format = Image.registered_extensions().get(os.path.splitext(args.output)[1].lower())
    if image_format is None:
        raise CLIError(f"{args.output}: unknown image format; use an extension like .png")
    fitted = load(args.fit, device=args.device)
    image = _to_pil(fitted.render(size=args.size, scale=args.scale))
    try:
        atomic_write(args.output, lambda f: image.save(f, format=image_format))
    except (OSError, ValueError, KeyError) as error:
        raise CLIError(f"{args.output}: cannot write a {image.mode} image as {image_format} ({error})") from None
    if not args.quiet:
        print(f"{args.output}: {image.width}x{image.height} {image.mode}")


def _to_pil(image) -> Image.Image:
    """A render as a PIL image (fits made through the Python API may hold numpy or torch)."""
    import numpy as np
    import torch

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        image = image[0] if image.dim() == 4 else image
        image = image.permute(1, 2, 0).numpy()
    if image.dtype.kind == "f":
        image = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    return Image.fromarray(np.ascontiguousarray(image))


# --- resize ---------------------------------------------------------------------------

def _add_batch_resampling(parser: argparse.ArgumentParser, scale_type: Callable = _positive(float)) -> None:
    """The inputs, output and target-size arguments shared by resize, upsample and rescale."""
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files and/or folders of images")
    parser.add_argument("-o", "--output", required=True,
                        help="output file (one input file) or folder (several inputs or a folder; created if missing)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--scale", type=scale_type, help="output size = input size x SCALE (any positive real)")
    group.add_argument("--size", type=_size, help="output size WxH")


def _add_resize(parser: argparse.ArgumentParser) -> None:
    from inr._resample_tables import ALIASES, KERNELS

    _add_batch_resampling(parser)
    parser.add_argument("--kernel", default="bicubic", choices=sorted(KERNELS) + sorted(ALIASES),
                        help="resampling kernel (default bicubic: Keys a=-0.5, MATLAB imresize)")
    parser.add_argument("--no-antialias", action="store_true", help="do not widen the kernel when downscaling")
    parser.add_argument("--threads", type=_positive(int), help="CPU threads (default: torch's)")


def _image_files(folder: str) -> List[str]:
    extensions = set(Image.registered_extensions())
    names = sorted(n for n in os.listdir(folder) if os.path.splitext(n)[1].lower() in extensions)
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]


def _resize_jobs(inputs: List[str], output: str) -> Tuple[List[Tuple[str, str]], bool]:
    """(input file, output file) pairs, and whether `output` is a folder. A single input
    file goes to the file `output` unless that is an existing folder."""
    files: List[str] = []
    batch = len(inputs) > 1
    for path in inputs:
        if os.path.isdir(path):
            batch = True
            found = _image_files(path)
            if not found:
                raise CLIError(f"{path}: no image files in this folder")
            files += found
        else:
            _check_input(path)
            files.append(path)
    if not batch and not os.path.isdir(output):
        return [(files[0], output)], False
    if os.path.exists(output) and not os.path.isdir(output):
        raise CLIError(f"{output} is not a folder (several inputs need an output folder)")
    jobs = [(f, os.path.join(output, os.path.basename(f))) for f in files]
    seen: Dict[str, str] = {}
    for source, target in jobs:
        key = os.path.abspath(target)
        if key in seen:
            raise CLIError(f"{seen[key]} and {source} would both be written to {target}")
        seen[key] = source
    return jobs, True


def _prepare_jobs(args: argparse.Namespace) -> Tuple[List[Tuple[str, str]], bool]:
    """Jobs for a file/folder command (`inputs`, `output`, `force`), every output checked
    before any work: no partial batch on a usage error."""
    jobs, to_folder = _resize_jobs(args.inputs, args.output)
    if to_folder:
        os.makedirs(args.output, exist_ok=True)
    for _, target in jobs:
        _check_output(target, args.force)
        if Image.registered_extensions().get(os.path.splitext(target)[1].lower()) is None:
            raise CLIError(f"{target}: unknown image format; use an extension like .png")
    return jobs, to_folder


def _write_image(target: str, image: Image.Image) -> None:
    from inr.fit import atomic_write

    image_format = Image.registered_extensions()[os.path.splitext(target)[1].lower()]
    try:
        atomic_write(target, lambda f: image.save(f, format=image_format))
    except (OSError, ValueError, KeyError) as error:
        raise CLIError(f"{target}: cannot write a {image.mode} image as {image_format} ({error})") from None


def _run_batch(args: argparse.Namespace, name: str, verb: str, transform: Callable) -> None:
    """Runs `transform(PIL image) -> PIL image` over the jobs of a file/folder command."""
    from tqdm.auto import tqdm

    jobs, to_folder = _prepare_jobs(args)
    progress = tqdm(jobs, unit="image", disable=args.quiet or len(jobs) == 1, desc=name)
    for source, target in progress:
        image = _read_image(source)
        try:
            out = transform(image)
        except ValueError as error:
            raise CLIError(f"{source}: {error}") from None
        _write_image(target, out)
        if not args.quiet and not to_folder:
            print(f"{target}: {out.width}x{out.height} {out.mode}")
    if not args.quiet and to_folder:
        print(f"{args.output}: {len(jobs)} images {verb}")


def _run_resize(args: argparse.Namespace) -> None:
    import torch

    from inr.resample import resize

    if args.threads:
        torch.set_num_threads(args.threads)
    _run_batch(args, "resize", "resized", lambda image: resize(
        image, scale=args.scale, size=args.size, kernel=args.kernel, antialias=not args.no_antialias))


# --- upsample -------------------------------------------------------------------------

def _add_upsample(parser: argparse.ArgumentParser) -> None:
    _add_batch_resampling(parser)
    parser.add_argument("--model", default="default",
                        help="SR model: a training checkpoint or weights file (default: the shipped weights)")
    parser.add_argument("--device", default=None, help="torch device to run on (default cpu)")
    parser.add_argument("--tile", type=int, default=None, help="LR tile side in pixels (default automatic, 0: none)")
    parser.add_argument("--ensemble", action="store_true",
                        help="average the 8 flips / transposes of each image (8x slower, ~+0.1 dB)")


def _run_upsample(args: argparse.Namespace) -> None:
    from inr.sr.upsample import resolve_model, upsample

    if args.model != "default":
        _check_input(args.model)
    if args.tile is not None and args.tile < 0:
        raise CLIError("--tile must be >= 0", code=2)
    jobs_model = resolve_model(args.model)  # once, before any image; errors are one line
    _run_batch(args, "upsample", "upsampled", lambda image: upsample(
        image, scale=args.scale, size=args.size, model=jobs_model, device=args.device, tile=args.tile,
        progress=not args.quiet, ensemble=args.ensemble))


# --- rescale --------------------------------------------------------------------------

def _add_rescale(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("direction", choices=["down", "up"],
                        help="down: learned 8-bit downscale (SCALE in [1/4, 1), e.g. 1/3.7); "
                             "up: restore from such a downscale (SCALE >= 1, or the original --size)")
    _add_batch_resampling(parser, scale_type=_fraction)
    parser.add_argument("--model", default="default",
                        help="rescaling model: a training checkpoint or weights file (default: the shipped weights)")
    parser.add_argument("--device", default=None, help="torch device to run on (default cpu)")
    parser.add_argument("--tile", type=int, default=None, help="up only: LR tile side in pixels (default automatic, 0: none)")
    parser.add_argument("--refine", type=int, default=0, metavar="STEPS",
                        help="down only: steps of per-picture refinement of the LR (slower, sharper restoration; "
                             "about +0.6 dB at x4 with 25; default 0)")


def _run_rescale(args: argparse.Namespace) -> None:
    from inr.rescale import down, up
    from inr.rescale.weights import resolve_model

    if args.model != "default":
        _check_input(args.model)
    if args.tile is not None and args.tile < 0:
        raise CLIError("--tile must be >= 0", code=2)
    if args.refine < 0 or (args.refine and args.direction == "up"):
        raise CLIError(f"--refine must be >= 0 and is for rescale down only, got {args.refine}", code=2)
    if args.direction == "down" and args.scale is not None and args.scale >= 1:
        raise CLIError(f"rescale down: --scale is output size / input size and must be below 1 "
                       f"(e.g. 1/3.7), got {args.scale:g}", code=2)
    if args.direction == "up" and args.scale is not None and args.scale < 1:
        raise CLIError(f"rescale up: --scale must be >= 1, got {args.scale:g}", code=2)
    net = resolve_model(args.model)  # once, before any image; errors are one line
    if args.direction == "down":
        def transform(image):
            return down(image, scale=args.scale, size=args.size, model=net, device=args.device, refine=args.refine,
                        progress=not args.quiet)
    else:
        def transform(image):
            return up(image, scale=args.scale, size=args.size, model=net, device=args.device, tile=args.tile,
                      progress=not args.quiet)
    _run_batch(args, f"rescale {args.direction}", "downscaled" if args.direction == "down" else "upscaled",
               transform)


# --- codec: encode / decode / convert / info -------------------------------------------

def _add_encode_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quality", type=float, default=6.0, help="0 (smallest) .. 12 (best); default 6")
    group.add_argument("--bpp", type=_positive(float), help="largest file not above this many bits per pixel")
    group.add_argument("--psnr", type=_positive(float), help="smallest file reaching this PSNR (dB)")
    group.add_argument("--lossless", action="store_true", help="store the exact samples (8 or 16 bit)")
    parser.add_argument("--preset", default="fast", help="fast (default, CPU-friendly) or best")
    parser.add_argument("--iterations", type=_positive(int), help="optimisation steps (overrides the preset)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _add_decode_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scale", type=_positive(float), help="decode at the stored size x SCALE")
    group.add_argument("--size", type=_size, help="decode at WxH")


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=_positive(int),
                        help="files coded at once in a batch, one process each (default: one per CPU core)")


def _add_encode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or quoted globs")
    parser.add_argument("-o", "--output", required=True,
                        help=".inr file to write (one input) or folder (several inputs; created if missing)")
    _add_encode_options(parser)
    _add_jobs(parser)


def _add_decode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help=".inr file")
    parser.add_argument("-o", "--output", required=True, help="image file to write; format from the extension")
    _add_decode_options(parser)


def _add_convert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image or .inr files, folders or quoted globs")
    parser.add_argument("output", help="image or .inr file (one input file; one of the two must be .inr), "
                                       "or a folder (several inputs; created if missing)")
    _add_encode_options(parser)
    _add_decode_options(parser)
    parser.add_argument("--format", default="png", help="image format of decoded files in a folder (default png)")
    _add_jobs(parser)


def _is_inr(path: str) -> bool:
    return os.path.splitext(path)[1].lower() == ".inr"


def _encode_options(args: argparse.Namespace) -> Dict:
    return dict(quality=args.quality, lossless=args.lossless, bpp=args.bpp, psnr=args.psnr, preset=args.preset,
                iterations=args.iterations, seed=args.seed)


def _encode_file(source: str, target: str, args: argparse.Namespace) -> None:
    from inr.codec import encode
    from inr.fit import atomic_write

    _check_input(source)
    _check_output(target, args.force)
    if not _is_inr(target):
        raise CLIError(f"{target}: the output of encode must end in .inr")
    image = _read_image(source)
    data = encode(image, progress=not args.quiet, **_encode_options(args))
    atomic_write(target, lambda f: f.write(data))
    if not args.quiet:
        print(f"{target}: {len(data)} bytes, {len(data) * 8 / (image.width * image.height):.4f} bpp")


def _decoded_image(data: bytes, scale, size) -> Tuple[Image.Image, str]:
    """A .inr file's picture as a PIL image, and a note when it was narrowed to 8 bits."""
    import numpy as np

    from inr.codec import decode

    pixels = decode(data, scale=scale, size=size)
    note = ""
    if pixels.dtype == np.uint16 and pixels.ndim == 3:  # Pillow cannot write 16-bit colour
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
        note = "16-bit colour written as 8-bit (inr.decode returns all 16 bits)"
    return _to_pil(pixels), note


def _decode_file(args: argparse.Namespace) -> None:
    _check_input(args.input)
    _check_output(args.output, args.force)
    if os.path.splitext(args.output)[1].lower() not in Image.registered_extensions() or _is_inr(args.output):
        raise CLIError(f"{args.output}: unknown image format; use an extension like .png")
    with open(args.input, "rb") as f:
        image, note = _decoded_image(f.read(), args.scale, args.size)
    _write_image(args.output, image)
    if not args.quiet:
        if note:
            print(f"{args.output}: {note}")
        print(f"{args.output}: {image.width}x{image.height}")


# --- codec batches: many files into a folder, one worker process per core ----------------

def _expand_inputs(inputs: List[str]) -> List[str]:
    """Files from file names, folders (their image and .inr files) and globs."""
    files: List[str] = []
    for path in inputs:
        if os.path.isdir(path):
            found = _image_files(path)
        elif not os.path.exists(path) and re.search(r"[*?[]", path):
            found = sorted(f for f in glob.glob(path) if os.path.isfile(f))
        else:
            _check_input(path)
            found = [path]
        if not found:
            raise CLIError(f"{path}: no image files")
        files += found
    return files


def _is_batch(inputs: List[str], output: str) -> bool:
    return (len(inputs) > 1 or os.path.isdir(output)
            or any(os.path.isdir(p) or (not os.path.exists(p) and re.search(r"[*?[]", p)) for p in inputs))


def _codec_jobs(files: List[str], output: str, decoded_extension: str, force: bool) -> List[Tuple[str, str]]:
    """(source, target) pairs into the folder `output`: .inr files decode to images, other
    files encode to .inr; every target checked before any work."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise CLIError(f"{output} is not a folder (several inputs need an output folder)")
    jobs, seen = [], {}
    for source in files:
        stem = os.path.splitext(os.path.basename(source))[0]
        target = os.path.join(output, stem + (decoded_extension if _is_inr(source) else ".inr"))
        key = os.path.abspath(target)
        if key in seen:
            raise CLIError(f"{seen[key]} and {source} would both be written to {target}")
        seen[key] = source
        if os.path.exists(target) and not force:
            raise CLIError(f"{target} exists; use --force to overwrite")
        jobs.append((source, target))
    return jobs


def _encode_job(source: str, options: Dict) -> Tuple[bytes, int]:
    """A worker's job: the .inr bytes of an image file, and its pixel count."""
    from inr.codec import encode

    image = _read_image(source)
    try:
        return encode(image, progress=False, **options), image.width * image.height
    except (ValueError, TypeError) as error:
        raise ValueError(f"{source}: {error}") from None


def _decode_job(source: str, image_format: str, scale, size) -> Tuple[bytes, str]:
    """A worker's job: a .inr file decoded and written as `image_format` bytes, and a note."""
    try:
        with open(source, "rb") as f:
            image, note = _decoded_image(f.read(), scale, size)
        buffer = io.BytesIO()
        image.save(buffer, format=image_format)
    except (ValueError, OSError, KeyError) as error:
        raise ValueError(f"{source}: {error}") from None
    return buffer.getvalue(), note


def _run_codec_batch(args: argparse.Namespace, inputs: List[str], output: str, encode_only: bool) -> None:
    """Encodes and/or decodes many files into the folder `output`, one worker per core;
    outputs are written whole (atomically) as workers finish, so an interruption leaves
    finished files and nothing partial."""
    from tqdm.auto import tqdm

    from inr._file_pool import plan_workers, run_jobs
    from inr.fit import atomic_write

    extension = "." + getattr(args, "format", "png").lower().lstrip(".")
    image_format = Image.registered_extensions().get(extension)
    if image_format is None or extension == ".inr":
        raise CLIError(f"--format {args.format}: unknown image format; use one like png")
    files = _expand_inputs(inputs)
    if encode_only and any(_is_inr(f) for f in files):
        raise CLIError(f"{next(f for f in files if _is_inr(f))}: already a .inr file (use `inr convert` to decode)")
    jobs = _codec_jobs(files, output, extension, args.force)
    os.makedirs(output, exist_ok=True)
    options = _encode_options(args)
    scale, size = getattr(args, "scale", None), getattr(args, "size", None)
    work = [(_decode_job, (source, image_format, scale, size)) if _is_inr(source) else (_encode_job, (source, options))
            for source, _ in jobs]
    totals = {"encoded": 0, "bits": 0, "pixels": 0, "decoded": 0, "narrowed": 0}

    def write(index: int, result) -> None:
        data, extra = result
        atomic_write(jobs[index][1], lambda f: f.write(data))
        if _is_inr(jobs[index][1]):
            totals["encoded"] += 1
            totals["bits"] += 8 * len(data)
            totals["pixels"] += extra
        else:
            totals["decoded"] += 1
            totals["narrowed"] += bool(extra)

    workers, threads = plan_workers(len(jobs), args.jobs)
    start = time.perf_counter()
    with tqdm(total=len(jobs), unit="file", desc=args.command, disable=args.quiet) as progress:
        failed = run_jobs(work, workers, threads, write, progress)
    for _, message in sorted(failed):
        print(f"inr: error: {message}", file=sys.stderr)
    if not args.quiet:
        parts = [f"{len(jobs) - len(failed)} of {len(jobs)} files in {time.perf_counter() - start:.1f} s "
                 f"({workers} worker{'s' if workers > 1 else ''})"]
        if totals["encoded"]:
            parts.append(f"{totals['encoded']} encoded, mean {totals['bits'] / totals['pixels']:.4f} bpp")
        if totals["decoded"]:
            parts.append(f"{totals['decoded']} decoded")
        if totals["narrowed"]:
            parts.append(f"{totals['narrowed']} of them 16-bit colour written as 8-bit")
        print(f"{output}: " + ", ".join(parts))
    if failed:
        raise CLIError(f"{len(failed)} of {len(jobs)} files failed")


def _run_encode(args: argparse.Namespace) -> None:
    if _is_batch(args.inputs, args.output):
        _run_codec_batch(args, args.inputs, args.output, encode_only=True)
    else:
        _encode_file(args.inputs[0], args.output, args)


def _run_convert(args: argparse.Namespace) -> None:
    if _is_batch(args.inputs, args.output):
        _run_codec_batch(args, args.inputs, args.output, encode_only=False)
        return
    source = args.inputs[0]
    if _is_inr(args.output):
        _encode_file(source, args.output, args)
    elif _is_inr(source):
        args.input = source
        _decode_file(args)
    else:
        raise CLIError("one of the two files must be .inr (use `inr resize` for other conversions)", code=2)


def _run_info(args: argparse.Namespace) -> None:
    from inr.codec import info

    _check_input(args.input)
    with open(args.input, "rb") as f:
        facts = info(f.read())
    for key, value in facts.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")


def _add_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help=".inr file")


# --- dispatch -------------------------------------------------------------------------

COMMANDS: Dict[str, Tuple[str, Callable, Callable]] = {
    "fit": ("fit an image with a hash-grid field and save it", _add_fit, _run_fit),
    "render": ("render a saved fit at any size", _add_render, _run_render),
    "resize": ("resize images (bicubic, Lanczos, ...; MATLAB-imresize exact)", _add_resize, _run_resize),
    "upsample": ("super-resolve images with a learned model at any scale", _add_upsample, _run_upsample),
    "rescale": ("learned downscale to an 8-bit image (down) and its restoration (up), any scale",
                _add_rescale, _run_rescale),
    "encode": ("compress images into .inr files", _add_encode, _run_encode),
    "decode": ("decode a .inr file to an image, at any size", _add_decode, _decode_file),
    "convert": ("convert between .inr and other image formats", _add_convert, _run_convert),
    "info": ("show what a .inr file holds", _add_info, _run_info),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="inr", description="Implicit neural representations for images.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_arguments(sub)
        sub.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the CLI; returns the exit status (0 ok, 1 failed, 2 bad usage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        COMMANDS[args.command][2](args)
    except CLIError as error:
        print(f"inr: error: {error}", file=sys.stderr)
        return error.code
    except (ValueError, TypeError, OSError) as error:
        print(f"inr: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("inr: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
