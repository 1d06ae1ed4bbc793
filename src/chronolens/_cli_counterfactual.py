"""``chronolens counterfactual MODEL DATA --reference REF``: counterfactuals on the command line.

The model file is read as ``chronolens explain`` reads it (:func:`chronolens.files.load_model`,
never unpickled); DATA and REF are ``.npy``, ``.npz`` or ``.csv`` series. The result is written
with :meth:`chronolens.counterfactual.Counterfactual.save` (a plain ``.npz``) next to a figure
of one case.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chronolens._validation import in_flags_of, parse_target_flag

__all__ = ["add_counterfactual"]

#: counterfactual() parameter names in messages -> this command's flags.
_FLAGS = {
    "reference": "--reference",
    "target_class": "--target",
    "method": "--method",
    "distance": "--distance",
    "relevance": "--relevance",
    "window": "--window",
    "max_length": "--max-length",
    "search": "--search",
    "n_distractors": "--n-distractors",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "layout": "--layout",
}


def _in_flags(message: str) -> str:
    """Say a message in this command's terms: ``search='best'`` -> ``--search best``."""
    return in_flags_of(message, _FLAGS)


def _reference(args: argparse.Namespace) -> Any:
    from chronolens.files import load_series

    try:
        series, _ = load_series(args.reference, key=args.reference_key)
        if args.reference_labels is None:
            return series
        labels, _ = load_series(args.reference, key=args.reference_labels)
    except ValueError as error:
        text = str(error).replace("--key (or key=...)", "--reference-key")
        raise ValueError(f"--reference: {text}") from None
    return series, labels


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The method's own flags; a flag of the other method is refused by name."""
    given = {
        "distance": args.distance,
        "relevance": args.relevance,
        "window": args.window,
        "max_length": args.max_length,
        "search": args.search,
        "n_distractors": args.n_distractors,
        "seed": args.seed,
    }
    own = {"comte": ("search", "n_distractors", "seed")}.get(
        args.method, ("distance", "relevance", "window", "max_length")
    )
    wrong = [_FLAGS[k] for k, v in given.items() if v is not None and k not in own]
    if wrong:
        raise ValueError(
            f"{', '.join(wrong)} do not apply to --method {args.method}; its flags are "
            f"{', '.join(_FLAGS[k] for k in own)}."
        )
    return {k: v for k, v in given.items() if v is not None}


def _command(args: argparse.Namespace) -> int:
    from chronolens.counterfactual import counterfactual
    from chronolens.files import load_model, load_series

    try:
        data, _ = load_series(args.data, key=args.key)
        reference = _reference(args)
        options = _options(args)
        model = load_model(args.model)
        result = counterfactual(
            model,
            data,
            parse_target_flag(args.target),
            method=args.method,
            reference=reference,
            layout=args.layout,
            batch_size=args.batch_size,
            **options,
        )
        if not -result.n_cases <= args.case < result.n_cases:
            raise IndexError(f"--case {args.case} is out of range for {result.n_cases} cases.")
    except (ValueError, TypeError) as error:
        raise type(error)(_in_flags(str(error))) from None
    out = result.save(args.out)
    png = Path(args.png) if args.png else out.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    result.plot(args.case).savefig(png, dpi=100)
    if not args.quiet:
        print(f"{result!r}\nwrote {out} and {png}")
    return 0


def add_counterfactual(commands: Any) -> None:
    """Add the ``counterfactual`` subcommand to the ``chronolens`` parser's subcommands."""
    cf = commands.add_parser(
        "counterfactual",
        help="what each series would have to look like to be classed otherwise",
        description="Native Guide (a window copied from the nearest unlike neighbour) or CoMTE "
        "(whole channels swapped in from a distractor), drawn from --reference. MODEL: a "
        "TorchScript file, a torch.export .pt2 archive or a Keras .keras/.h5 model, never "
        "unpickled. DATA and REF: .npy, .npz (--key, --reference-key) or .csv.",
    )
    cf.add_argument("model", help="model file (.pt2, TorchScript .pt, .keras or .h5)")
    cf.add_argument("data", help="series file (.npy, .npz, .csv)")
    cf.add_argument("--reference", required=True, help="reference series file (.npy, .npz, .csv)")
    cf.add_argument("--reference-key", help="series array name inside the --reference .npz")
    cf.add_argument(
        "--reference-labels",
        metavar="KEY",
        help="labels array name inside the --reference .npz (default: the model's predictions)",
    )
    cf.add_argument("--key", help="array name inside the DATA .npz file")
    cf.add_argument("--layout", default="ncl", choices=["ncl", "nlc"], help="axis order")
    cf.add_argument("--method", default="native_guide", choices=["native_guide", "comte"])
    cf.add_argument("--target", help="class to reach, or one per case, comma-separated")
    cf.add_argument("--distance", choices=["auto", "dtw", "euclidean"], help="Native Guide")
    cf.add_argument("--relevance", help="Native Guide: method name of the NUN's relevance map")
    cf.add_argument("--window", choices=["all", "one"], help="Native Guide: channels copied")
    cf.add_argument("--max-length", type=int, help="Native Guide: longest window")
    cf.add_argument("--search", choices=["greedy", "optimized", "exhaustive"], help="CoMTE")
    cf.add_argument("--seed", type=int, help="CoMTE: seed of the optimized search")
    cf.add_argument("--n-distractors", type=int, help="CoMTE: distractors tried (default 2)")
    cf.add_argument("--batch-size", type=int, default=128, help="rows per model call")
    cf.add_argument("--out", required=True, help="output file (.npz)")
    cf.add_argument("--png", help="figure of one case (default: next to --out)")
    cf.add_argument("--case", type=int, default=0, help="case shown in the figure (default 0)")
    cf.add_argument("--quiet", action="store_true", help="no messages")
    cf.set_defaults(run=_command)
