"""The ``chronolens`` command line: ``demo``, ``explain`` and ``methods``."""

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
    values = [int(v) for v in text.split(",")]
    return values[0] if len(values) == 1 else values


def _command_explain(args: argparse.Namespace) -> int:
    from chronolens._explain import explain
    from chronolens.files import load_model, load_series

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
        description="MODEL: a TorchScript file or a torch.export .pt2 archive (never unpickled). "
        "DATA: .npy, .npz (--key) or .csv (a row per time point, a column per channel).",
    )
    ex.add_argument("model", help="model file (.pt2 from torch.export, or TorchScript)")
    ex.add_argument("data", help="series file (.npy, .npz, .csv)")
    ex.add_argument("--method", required=True, help="a method name (see `chronolens methods`)")
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
    ex.add_argument("--out", required=True, help="output Explanation file (.npz)")
    ex.add_argument("--png", help="figure of one case (default: next to --out)")
    ex.add_argument("--case", type=int, default=0, help="case shown in the figure (default 0)")
    ex.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    ex.set_defaults(run=_command_explain)

    listing = commands.add_parser("methods", help="list the registered methods")
    listing.set_defaults(run=_command_methods)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; errors in the user's input print one line, not a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, TypeError, FileNotFoundError, IndexError) as error:
        print(f"chronolens: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
