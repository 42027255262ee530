"""``n2n diagnose`` (know the noise; check a residual) and ``n2n models`` (what is bundled)."""

from __future__ import annotations

import argparse

import numpy as np

from n2n.cli.common import add_overwrite_option, input_name, output_path
from n2n.errors import N2NError
from n2n.io.files import PLOT, RECORD, write_json_record
from n2n.io.outputs import claim_outputs


def add_parsers(sub) -> None:
    p = sub.add_parser("diagnose", help="know your noise: Poisson-Gaussian fit, spatial "
                       "correlation, which mode to train; or check a denoising residual")
    p.add_argument("inputs", nargs="*", type=input_name,
                   help="captures of one scene (a folder, a stack, several "
                   "files) or one noisy image")
    p.add_argument("--reference-name", metavar="FILE",
                   help="a file in the folder that is not a capture (e.g. avg50.png)")
    p.add_argument("--residual", nargs=2, metavar=("NOISY", "DENOISED"),
                   help="check that what a denoiser removed looks like noise")
    p.add_argument("--plane", type=int, metavar="K",
                   help="with --residual on TIFF stacks: the plane checked (file order; "
                   "default the middle one); neighbouring planes are compared over the stack")
    p.add_argument("-o", "--output", type=output_path, help="folder for the JSON and the plot")
    add_overwrite_option(p)
    p.set_defaults(run=run_diagnose)

    p = sub.add_parser("models", help="list the bundled models, what each was trained on and "
                       "the command that made it")
    p.set_defaults(run=run_models)


def run_diagnose(args: argparse.Namespace) -> int:
    from n2n.data.bursts import load_captures
    from n2n.evaluation import diagnose, plots
    from n2n.inference.policy import first_choice

    if bool(args.inputs) == bool(args.residual):
        raise N2NError("diagnose takes captures of one scene (or one image), or --residual "
                       "NOISY DENOISED")
    if args.output:  # claimed before any work
        names = ("residual.json", "residual.png") if args.residual else ("diagnosis.json",
                                                                         "noise.png")
        claim_outputs(dict(zip([args.output / n for n in names], (RECORD, PLOT), strict=True)),
                      args.residual or args.inputs, overwrite=args.overwrite)
    if args.residual:
        check, residual, where = _residual(args.residual, args.plane)
        print("\n".join(["residual check: " + ("PASSED" if check.passed else "FAILED") + where,
                         *(f"  {line}" for line in check.verdict)]))
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
            write_json_record(args.output / "residual.json", check.to_json())
            plots.plot_residual(residual, getattr(check, "check", check),
                                args.output / "residual.png")
            print(f"wrote residual.json and residual.png to {args.output}")
        return 0
    captures = load_captures(args.inputs, args.reference_name)
    name = str(args.inputs[0]) if len(args.inputs) == 1 else "scene"
    found = (diagnose.diagnose_burst(np.stack(captures), name) if len(captures) > 1 else
             diagnose.diagnose_image(captures[0], name, first_choice(captures[0]).to_json()))
    model = found.noise_model
    print(f"{found.source}\n  noise: variance = {model.a:.4g} x intensity + {model.b:.4g} "
          f"(0..255 scale; {model.spec}), std about {found.noise_std:.3g}")
    print("  spatially " + ("white" if found.white else
                            f"correlated, length {found.correlation_length} px"))
    print("\n".join(f"  - {line}" for line in found.recommendation))
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        write_json_record(args.output / "diagnosis.json", found.to_json())
        plots.plot_noise(found.curve, model, found.correlation, found.source,
                         args.output / "noise.png")
        print(f"wrote diagnosis.json and noise.png to {args.output}")
    return 0


def _residual(paths: list, plane: int | None) -> tuple:
    """The residual check of two images, or of one plane of two TIFF stacks (with their
    neighbouring planes compared): (check, the checked residual, where it was taken)."""
    from n2n.evaluation import diagnose
    from n2n.evaluation.diagnose import check_stack_residual, stack_layout
    from n2n.io.images import read_image

    if stack_layout(paths[0]) is not None:
        found = check_stack_residual(*paths, plane=plane)
        return found, found.residual, f" (plane {found.plane} of {found.planes})"
    if plane is not None:
        raise N2NError(f"{{plane}} is for TIFF stacks; {paths[0]} is one image", param="plane")
    noisy, denoised = (read_image(p).pixels for p in paths)
    return diagnose.check_residual(noisy, denoised), noisy - denoised, ""


def run_models(args: argparse.Namespace) -> int:
    from n2n.models.bundled import BUNDLED_MODELS, CONTEXT_MODELS, ZS_PRIORS, packaged_weights

    for heading, models in (("", BUNDLED_MODELS.values()),
                            ("context models (stacks: each plane with its neighbours):\n",
                             CONTEXT_MODELS.values()),
                            ("zero-shot priors (--zero-shot starts from them):\n",
                             ZS_PRIORS.values())):
        print(heading, end="")
        for m in models:
            size = packaged_weights(m.file).stat().st_size / 1e3
            print(f"{m.name} ({m.channels} channel{'s' if m.channels > 1 else ''}, "
                  f"{size:.0f} kB)\n  for: {m.use}\n  trained on: {m.trained_on}\n"
                  f"  made by: {m.command}\n")
    return 0
