"""The ``chronolens`` command line: ``demo``, ``explain``, ``evaluate`` and ``methods``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--param expects KEY=VALUE (e.g. --param n_steps=64); got {pair!r}.")
        key, value = pair.split("=", 1)
        params[key.strip()] = _parse_value(value)
    return params


def _parse_target(text: str | None) -> Any:
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--target {text!r} is not a class index: pass an integer (--target 1) or one "
            "integer per case, comma-separated (--target 0,2,1)."
        ) from None
    return values[0] if len(values) == 1 else values


def _command_report(args: argparse.Namespace) -> int:
    """``explain ... --out report.html``: the HTML report instead of an Explanation file."""
    import numpy as np

    from chronolens.files import load_model, load_series
    from chronolens.reporting.build import report

    names = [name.strip() for name in (args.method or "").split(",") if name.strip()]
    params = _parse_params(args.param)
    if (params or args.layer) and len(names) != 1:
        raise ValueError(
            "--param and --layer apply to one method: with an .html --out, pass a single "
            "--method (e.g. --method grad_cam --layer conv2), or drop them."
        )
    if args.target is not None:
        raise ValueError(
            "--target is not used by reports (they explain each case's predicted class); drop "
            "it, or write an .npz Explanation instead."
        )
    if args.layer:
        params["layer"] = args.layer
    labels = None
    if args.labels:
        path = Path(args.labels)
        if not path.is_file():
            raise FileNotFoundError(f"No labels file at {str(path)!r}.")
        loaded = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
        labels = np.asarray(loaded).astype(np.int64)
        if not np.array_equal(labels, loaded):
            raise ValueError(f"--labels must hold integer classes 0..k-1; {str(path)!r} does not.")
    model = load_model(args.model)
    data, channel_names = load_series(args.data, key=args.key)
    written = report(
        model,
        data,
        y=labels,
        methods={names[0]: params} if names and params else names or None,
        channel_names=channel_names,
        out=args.out,
        layout=args.layout,
        batch_size=args.batch_size if args.batch_size == "auto" else int(args.batch_size),
        metric_cases=args.metric_cases,
        progress=False if args.quiet else None,
    )
    if not args.quiet:
        print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0


def _command_explain(args: argparse.Namespace) -> int:
    from chronolens._explain import explain
    from chronolens.files import load_model, load_series

    if Path(args.out).suffix.lower() in (".html", ".htm"):
        return _command_report(args)
    if not args.method:
        raise ValueError("--method is required for an .npz --out (see `chronolens methods`).")
    model = load_model(args.model)
    data, channel_names = load_series(args.data, key=args.key)
    explanation = explain(
        model,
        data,
        args.method,
        target=_parse_target(args.target),
        layer=args.layer,
        layout=args.layout,
        batch_size=args.batch_size if args.batch_size == "auto" else int(args.batch_size),
        progress=False if args.quiet else None,
        channel_names=channel_names,
        **_parse_params(args.param),
    )
    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_suffix(".npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    explanation.save(out)
    png = Path(args.png) if args.png else out.with_suffix(".png")
    explanation.plot(args.case).savefig(png, dpi=100)
    if not args.quiet:
        print(f"{explanation!r}\nwrote {out} and {png}")
    return 0


def _command_demo(args: argparse.Namespace) -> int:
    from chronolens.demo import run_demo

    run_demo(args.out, quiet=args.quiet)
    return 0


def _command_evaluate(args: argparse.Namespace) -> int:
    from chronolens.files import load_model, load_series
    from chronolens.metrics.evaluation import evaluate

    model = load_model(args.model)
    data, _ = load_series(args.data, key=args.key)
    mask = None
    if args.mask is not None:
        mask, _ = load_series(args.mask, key=args.mask_key)
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    if not names:
        raise ValueError("--methods needs at least one method name, e.g. --methods saliency,cam.")
    result = evaluate(
        model,
        data,
        names,
        mask=mask,
        target=_parse_target(args.target),
        baseline=_parse_value(args.baseline),
        granularity=args.granularity,
        n_steps=args.n_steps,
        sanity=not args.no_sanity,
        layout=args.layout,
        clone=lambda: load_model(args.model),
    )
    print(result)
    return 0


def _command_methods(_args: argparse.Namespace) -> int:
    from chronolens.registry import methods

    print(repr(methods()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``chronolens`` command."""
    parser = argparse.ArgumentParser(
        prog="chronolens", description="See what a time-series classifier looks at."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train small models, explain them, write figures")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars or table")
    demo.set_defaults(run=_command_demo)

    ex = commands.add_parser(
        "explain",
        help="explain a saved model on saved series",
        description="MODEL: a TorchScript file, a torch.export .pt2 archive (never unpickled), "
        "or a Keras .keras/.h5 model (safe mode; KERAS_BACKEND defaults to torch). "
        "DATA: .npy, .npz (--key) or .csv (a row per time point, a column per channel).",
    )
    ex.add_argument("model", help="model file (.pt2, TorchScript, .keras or .h5)")
    ex.add_argument("data", help="series file (.npy, .npz, .csv)")
    ex.add_argument(
        "--method",
        help="a method name (see `chronolens methods`); for an .html --out, comma-separated "
        "names (default: grad_cam,integrated_gradients,saliency)",
    )
    ex.add_argument("--target", help="class index, or comma-separated one per case")
    ex.add_argument("--layer", help="layer name for CAM methods")
    ex.add_argument("--layout", default="ncl", choices=["ncl", "nlc"], help="data axis order")
    ex.add_argument("--key", help="array name inside a .npz file")
    ex.add_argument("--batch-size", default="auto", help="rows per model call (default: auto)")
    ex.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method parameter, e.g. --param n_steps=64 (repeatable)",
    )
    ex.add_argument(
        "--out", required=True, help="output Explanation file (.npz), or an HTML report (.html)"
    )
    ex.add_argument("--labels", help="report only: true classes (.npy, or one integer per line)")
    ex.add_argument(
        "--metric-cases",
        type=int,
        default=16,
        help="report only: cases for the faithfulness and sanity checks (default 16, 0: none)",
    )
    ex.add_argument("--png", help="figure of one case (default: next to --out)")
    ex.add_argument("--case", type=int, default=0, help="case shown in the figure (default 0)")
    ex.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    ex.set_defaults(run=_command_explain)

    ev = commands.add_parser(
        "evaluate",
        help="score methods on a saved model: faithfulness, localization, sanity",
        description="Explain DATA with each method and print, per method: seconds per case, "
        "deletion / insertion AUC next to a random attribution's, average precision, ROC AUC "
        "and relevance mass against --mask, and the model-randomization verdict.",
    )
    ev.add_argument("model", help="model file (.pt2 from torch.export, or TorchScript)")
    ev.add_argument("data", help="series file (.npy, .npz, .csv)")
    ev.add_argument("--methods", required=True, help="comma-separated method names")
    ev.add_argument("--mask", help="ground-truth mask file, same shape as the data")
    ev.add_argument("--key", help="array name inside the data .npz file")
    ev.add_argument("--mask-key", help="array name inside the mask .npz file")
    ev.add_argument("--target", help="class index, or comma-separated one per case")
    ev.add_argument("--layout", default="ncl", choices=["ncl", "nlc"], help="data axis order")
    ev.add_argument("--baseline", default="zeros", help="deletion/insertion baseline")
    ev.add_argument("--granularity", default="point", choices=["point", "window"])
    ev.add_argument("--n-steps", type=int, default=20, help="curve steps (default 20)")
    ev.add_argument("--no-sanity", action="store_true", help="skip the randomization test")
    ev.set_defaults(run=_command_evaluate)

    listing = commands.add_parser("methods", help="list the registered methods")
    listing.set_defaults(run=_command_methods)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors in the user's input print one line, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, FileNotFoundError, IndexError, RuntimeError) as error:
        print(f"chronolens: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
