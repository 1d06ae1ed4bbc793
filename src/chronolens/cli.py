"""The ``chronolens`` command line: ``demo``, ``explain``, ``report``, ``evaluate``, ``methods``.

``counterfactual`` is in :mod:`chronolens._cli_counterfactual`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chronolens._cli_counterfactual import add_counterfactual
from chronolens._cli_dataset import add_dataset_arguments, command_dataset, is_dataset_job
from chronolens._cli_lengths import add_length_arguments, load_cases
from chronolens._validation import in_flags_of, parse_target_flag


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


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"--batch-size {text!r} is not a number of rows: pass an integer (--batch-size 64) "
            "or auto."
        ) from None


def _command_report(args: argparse.Namespace) -> int:
    """``explain ... --out report.html``: the HTML report instead of an Explanation file."""
    import numpy as np

    from chronolens.files import load_model
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
    data, channel_names = load_cases(args, args.data, args.key)
    _check_methods(names, params)  # answer before a framework is imported
    model = load_model(args.model)
    written = report(
        model,
        data,
        y=labels,
        methods={names[0]: params} if names and params else names or None,
        channel_names=channel_names,
        out=args.out,
        layout=args.layout,
        batch_size=_batch_size(args.batch_size),
        metric_cases=args.metric_cases,
        progress=False if args.quiet else None,
        dataset=getattr(args, "dataset", None),
        pad_value=args.pad_value,
    )
    if not args.quiet:
        print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB)")
    return 0


def _command_explain(args: argparse.Namespace) -> int:
    from chronolens._explain import explain
    from chronolens.files import load_model

    if Path(args.out).suffix.lower() in (".html", ".htm"):
        return _command_report(args)
    if not args.method and not is_dataset_job(args):
        raise ValueError("--method is required for an .npz --out (see `chronolens methods`).")
    params = _parse_params(args.param)
    target = parse_target_flag(args.target)
    if is_dataset_job(args):
        return command_dataset(args, params, target)
    data, channel_names = load_cases(args, args.data, args.key)
    _check_methods([args.method], params)  # answer before a framework is imported
    model = load_model(args.model)
    explanation = explain(
        model,
        data,
        args.method,
        target=target,
        layer=args.layer,
        layout=args.layout,
        batch_size=_batch_size(args.batch_size),
        progress=False if args.quiet else None,
        channel_names=channel_names,
        pad_value=args.pad_value,
        **params,
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
    from chronolens.files import load_model
    from chronolens.metrics._evaluation_metrics import DEFAULT_METRICS, check_metrics
    from chronolens.metrics.evaluation import evaluate

    data, _ = load_cases(args, args.data, args.key)
    mask = None
    if args.mask is not None:
        mask, _ = load_cases(args, args.mask, args.mask_key)
    names = [name.strip() for name in args.methods.split(",") if name.strip()]
    if not names:
        raise ValueError("--methods needs at least one method name, e.g. --methods saliency,cam.")
    target = parse_target_flag(args.target)
    _check_methods(names, {})  # answer before a framework is imported
    metrics = DEFAULT_METRICS
    if args.metrics is not None:
        metrics = check_metrics([m.strip() for m in args.metrics.split(",") if m.strip()])
    model = load_model(args.model)
    result = evaluate(
        model,
        data,
        names,
        mask=mask,
        target=target,
        baseline=_parse_value(args.baseline),
        granularity=args.granularity,
        n_steps=args.n_steps,
        sanity=not args.no_sanity,
        layout=args.layout,
        clone=lambda: load_model(args.model),
        batch_size=_batch_size(args.batch_size),
        pad_value=args.pad_value,
        metrics=metrics,
        alpha=args.alpha,
        correction=args.correction,
        threshold=args.threshold,
    )
    print(json.dumps(result.to_dict(), indent=1) if args.json else result)
    return 0


def _command_methods(_args: argparse.Namespace) -> int:
    from chronolens.registry import methods

    print(repr(methods()))
    return 0


MODEL_HELP = (
    "MODEL: a TorchScript file, a torch.export .pt2 archive (inspected, never unpickled), or a "
    "Keras .keras/.h5 model (safe mode; KERAS_BACKEND defaults to torch). DATA: .npy, .npz "
    "(--key) or .csv (a row per time point, a column per channel)."
)


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="model file (.pt2, TorchScript .pt, .keras or .h5)")
    parser.add_argument("data", help="series file (.npy, .npz, .csv)")
    parser.add_argument(
        "--layout", default="ncl", choices=["ncl", "nlc"], help="data axis order (default ncl)"
    )
    parser.add_argument("--key", help="array name inside a .npz file")
    parser.add_argument("--batch-size", default="auto", help="rows per model call (default: auto)")
    add_length_arguments(parser)


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels", help="true classes (.npy, or one integer per line)")
    parser.add_argument(
        "--metric-cases",
        type=int,
        default=16,
        help="cases for the faithfulness and sanity checks (default 16, 0: none)",
    )


def _add_explain(commands: Any) -> None:
    ex = commands.add_parser(
        "explain", help="explain a saved model on saved series", description=MODEL_HELP
    )
    _add_data_arguments(ex)
    ex.add_argument(
        "--method",
        help="a method name (see `chronolens methods`); for an .html --out, comma-separated "
        "names (default: grad_cam,integrated_gradients,saliency)",
    )
    ex.add_argument("--target", help="class index, or comma-separated one per case")
    ex.add_argument("--layer", help="layer name for CAM methods")
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
    _add_report_arguments(ex)
    ex.add_argument("--png", help="figure of one case (default: next to --out)")
    ex.add_argument("--case", type=int, default=0, help="case shown in the figure (default 0)")
    ex.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    add_dataset_arguments(ex)
    ex.set_defaults(run=_command_explain)


def _add_report(commands: Any) -> None:
    rep = commands.add_parser(
        "report",
        help="write one self-contained HTML report of what a saved model looks at",
        description=MODEL_HELP,
    )
    _add_data_arguments(rep)
    rep.add_argument("--out", default="report.html", help="the .html file (default report.html)")
    rep.add_argument(
        "--methods",
        dest="method",
        help="comma-separated method names (default: grad_cam,integrated_gradients,saliency, "
        "those the model supports)",
    )
    rep.add_argument("--layer", help="layer name, with a single CAM method")
    rep.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="with a single method"
    )
    _add_report_arguments(rep)
    rep.add_argument(
        "--dataset",
        help="a finished dataset job (the .zarr of explain --out .zarr): adds its whole-dataset "
        "section",
    )
    rep.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    rep.set_defaults(run=_command_report, target=None)


def _add_evaluate(commands: Any) -> None:
    ev = commands.add_parser(
        "evaluate",
        help="score methods on a saved model: faithfulness, localization, sanity",
        description="Explain DATA with each method and print, per method: seconds per case, "
        "deletion / insertion AUC next to a random attribution's, average precision, ROC AUC "
        "and relevance mass against --mask, the model-randomization verdict, every --metrics "
        "column against its random reference, and a verdict per method: better or worse than "
        "random only where metrics built on different interventions agree, 'metrics "
        "disagree' (naming which said what) otherwise. " + MODEL_HELP,
    )
    _add_data_arguments(ev)
    ev.add_argument("--methods", required=True, help="comma-separated method names")
    ev.add_argument("--mask", help="ground-truth mask file, same shape as the data")
    ev.add_argument("--mask-key", help="array name inside the mask .npz file")
    ev.add_argument("--target", help="class index, or comma-separated one per case")
    ev.add_argument("--baseline", default="zeros", help="deletion/insertion baseline")
    ev.add_argument("--granularity", default="point", choices=["point", "window"])
    ev.add_argument("--n-steps", type=int, default=20, help="curve steps (default 20)")
    ev.add_argument("--no-sanity", action="store_true", help="skip the randomization test")
    ev.add_argument(
        "--metrics",
        help="comma-separated faithfulness metrics (default: deletion, insertion, "
        "deletion_linear, insertion_linear, road, aopcr, cpd, cpp, infidelity; also "
        "deletion_window, max_sensitivity, stability)",
    )
    ev.add_argument(
        "--alpha",
        type=float,
        default=0.05,
        help="family-wise error rate of one method's metric calls (default 0.05)",
    )
    ev.add_argument(
        "--correction",
        choices=["holm", "bonferroni", "none"],
        help="adjustment of the calls' p-values for their number (default holm)",
    )
    ev.add_argument(
        "--threshold",
        type=float,
        help="instead of --alpha: call at this many standard errors, uncorrected",
    )
    ev.add_argument("--json", action="store_true", help="print the table as JSON")
    ev.set_defaults(run=_command_evaluate)


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
    _add_explain(commands)
    _add_report(commands)
    _add_evaluate(commands)
    add_counterfactual(commands)
    listing = commands.add_parser("methods", help="list the registered methods")
    listing.set_defaults(run=_command_methods)
    return parser


#: Python parameter names in messages -> the flags a command-line user types.
FLAGS = {
    "layout": "--layout",
    "batch_size": "--batch-size",
    "target": "--target",
    "layer": "--layer",
    "labels": "--labels",
    "key": "--key",
    "dataset": "--dataset",
    "pad_value": "--pad-value",
    "alpha": "--alpha",
    "correction": "--correction",
    "threshold": "--threshold",
}


def in_flags(message: str) -> str:
    """Say a message in command-line terms: ``layout='nlc'`` -> ``--layout nlc``."""
    return in_flags_of(message, FLAGS)


def _check_methods(names: Sequence[str], params: dict[str, Any]) -> None:
    """Check method names and parameters before a model file (and its framework) is loaded."""
    from chronolens._validation import check_no_extra_params
    from chronolens.registry import get_method

    for name in names:
        spec = get_method(name)
        if params:
            check_no_extra_params(spec.name, params, spec.parameters)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors in the user's input print one line, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, FileNotFoundError, IndexError, RuntimeError) as error:
        print(f"chronolens: error: {in_flags(str(error))}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
