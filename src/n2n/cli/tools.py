"""``n2n make-pairs``, ``n2n scratch-train`` and ``n2n export``: files for the EE-559 setting and
for shipping."""

from __future__ import annotations

import argparse
import getpass
import json

import torch

from n2n.cli.common import add_overwrite_option, input_path, output_path, parse_scales
from n2n.data.noise import parse_noise
from n2n.export.exporter import FORMATS
from n2n.io.files import CHECKPOINT, never, write_text_atomic
from n2n.io.outputs import claim_outputs
from n2n.scratch.model import Model as ScratchModel
from n2n.scratch.serialize import is_weights_file


def add_parsers(sub) -> None:
    p = sub.add_parser("make-pairs", help="write EE-559-format train_data.pkl and val_data.pkl")
    p.add_argument("clean_dir", nargs="+", help="clean images for the training pairs")
    p.add_argument("out_dir", type=output_path)
    p.add_argument("--val", nargs="+", metavar="DIR",
                   help="clean images for val_data.pkl (default: hold out 10%% of CLEAN_DIR)")
    p.add_argument("--train-count", type=int, default=50000)
    p.add_argument("--val-count", type=int, default=1000)
    p.add_argument("--noise", default="gaussian:15-35", help="noise spec (default gaussian:15-35)")
    p.add_argument("--scales", default="1,2,4", help="box-downsampling factors of the 32x32 "
                   "patches, drawn per patch (default 1,2,4)")
    p.add_argument("--seed", type=int, default=0)
    add_overwrite_option(p)
    p.set_defaults(run=run_make_pairs)

    p = sub.add_parser("scratch-train", help="train the from-scratch framework's Model on "
                       "EE-559 pairs; writes plain-data weights")
    p.add_argument("train_pkl", type=input_path, help="EE-559 train_data.pkl")
    p.add_argument("output", type=output_path, help="weights file to write (.n2nw) plus a "
                   ".json log")
    p.add_argument("--val-pkl", type=input_path, help="EE-559 val_data.pkl: PSNR after each epoch")
    p.add_argument("--network", choices=ScratchModel.NETWORKS, default="unet")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-count", type=int, help="use only the first N pairs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    add_overwrite_option(p)
    p.set_defaults(run=run_scratch_train)

    p = sub.add_parser("export", help="a checkpoint (or bundled model) as weights, TorchScript, "
                       "ONNX or a BioImage Model Zoo zip, checked against the PyTorch model "
                       "before it is written")
    p.add_argument("checkpoint", type=input_path, help="checkpoint from 'n2n train', or a bundled "
                   "model's name (photo, photo-plus, camera, confocal)")
    p.add_argument("output", type=output_path)
    p.add_argument("--format", choices=FORMATS, help="default: from "
                   "the output's suffix (.ts/.torchscript, .onnx, .zip = bmz), else pt (weights "
                   "for n2n-lite)")
    p.add_argument("--half", action="store_true", help="pt only: store float16 (half the size)")
    p.add_argument("--name", help="bmz: the model's name: 5-128 letters, digits, spaces, _-() "
                   "(default: n2n-lite and the bundled model's name or the checkpoint's folder)")
    p.add_argument("--author", help="bmz: who made the model (default: n2n-lite for bundled "
                   "models, else your user name)")
    p.add_argument("--data-range", type=float, default=255.0, help="bmz: the value of white in "
                   "the images the package will get, e.g. 65535 for 16-bit (default 255)")
    add_overwrite_option(p)
    p.set_defaults(run=run_export)


def run_make_pairs(args: argparse.Namespace) -> int:
    from n2n.data.ee559 import make_ee559_pairs
    from n2n.data.folders import load_folder, split_holdout
    from n2n.models.checkpoint import save_atomic

    outputs = (args.out_dir / "train_data.pkl", args.out_dir / "val_data.pkl")
    claim_outputs(outputs, [*args.clean_dir, *(args.val or [])], overwrite=args.overwrite,
                  mark=never)  # pkl files carry no mark: an existing one is replaced on request
    noise, scales = parse_noise(args.noise), parse_scales(args.scales)
    images = load_folder(args.clean_dir, channels=3)
    if args.val:
        val_images = load_folder(args.val, channels=3)
    else:
        images, val_images = split_holdout(images, 0.1)
    generator = torch.Generator().manual_seed(args.seed)
    first, second, _ = make_ee559_pairs(images, args.train_count, noise, scales, generator,
                                        name="train_count")
    val_noisy, _, val_clean = make_ee559_pairs(val_images, args.val_count, noise, scales,
                                               generator, name="val_count")
    save_atomic((first, second), args.out_dir / "train_data.pkl")
    save_atomic((val_noisy, val_clean), args.out_dir / "val_data.pkl")
    print(f"wrote train_data.pkl ({tuple(first.shape)} x2) and val_data.pkl "
          f"({tuple(val_noisy.shape)} x2) to {args.out_dir}; noise {noise.spec}, scales {scales}")
    return 0


def run_scratch_train(args: argparse.Namespace) -> int:
    from n2n.data.ee559 import load_ee559_pairs
    from n2n.scratch import Model
    from n2n.scratch.training import train_with_log
    from n2n.training.logs import format_row

    log = args.output.with_suffix(".json")
    inputs = [args.train_pkl, *([args.val_pkl] if args.val_pkl else [])]
    claim_outputs([args.output], inputs, overwrite=args.overwrite, kind=CHECKPOINT,
                  mark=lambda _: is_weights_file(args.output))
    claim_outputs([log], inputs, overwrite=args.overwrite, others={args.output: CHECKPOINT},
                  mark=lambda _: is_weights_file(args.output))
    first, second = load_ee559_pairs(args.train_pkl)
    if args.train_count:
        first, second = first[:args.train_count], second[:args.train_count]
    val = load_ee559_pairs(args.val_pkl) if args.val_pkl else None
    torch.manual_seed(args.seed)
    model = Model(args.network)
    history = train_with_log(model, first, second, args.epochs, val,
                             lambda row: print(format_row(row), flush=True))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output, {"train_pkl": str(args.train_pkl), "epochs": args.epochs,
                             "train_count": len(first), "history": history})
    write_text_atomic(log, json.dumps(history, indent=1))
    print(f"wrote {args.output}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from n2n.export.exporter import HALF_TOLERANCE, TOLERANCE, export_format, export_model
    from n2n.models.bundled import is_bundled_name, load_bundled
    from n2n.models.checkpoint import load_record, model_from_record, provenance

    fmt = export_format(args.output, args.format)
    bundled = is_bundled_name(args.checkpoint)
    if bundled:
        model, record = load_bundled(str(args.checkpoint)), {}
    else:
        saved = load_record(args.checkpoint)
        model = model_from_record(saved, args.checkpoint)
        record = provenance(saved)
    package = None
    if fmt == "bmz":
        from n2n.export.bmz import describe_training

        name = args.name or "n2n-lite " + (str(args.checkpoint) if bundled
                                           else args.checkpoint.parent.name)
        author = args.author or ("n2n-lite" if bundled else getpass.getuser())
        training = describe_training(str(args.checkpoint) if bundled else None, record)
        package = {"name": name, "author": author, "training_data": training,
                   "data_range": args.data_range}
    difference = export_model(model, args.output, fmt, half=args.half, record=record,
                              package=package, inputs=[] if bundled else [args.checkpoint],
                              overwrite=args.overwrite)
    tolerance = HALF_TOLERANCE if args.half else TOLERANCE
    print(f"wrote {args.output} ({fmt}, {args.output.stat().st_size / 1e6:.2f} MB); self-check "
          f"on a noisy photo, a 64x48 and a 37x53 image: max |difference| {difference:.2g} on "
          "the 0..255 scale "
          f"(tolerance {tolerance:g})")
    if fmt == "bmz":
        from n2n.export.bmz import validator_version

        version = validator_version()
        print(f"validated with bioimageio.spec {version}" if version else "not validated: "
              "pip install 'n2n-lite[bmz]' for the official validator")
    return 0
