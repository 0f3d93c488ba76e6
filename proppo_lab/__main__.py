"""Command line: ``python -m proppo_lab demo`` and ``python -m proppo_lab export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def demo(iterations: int = 30, betas=(2.4, 3.0)) -> None:
    """Print the chaotic RNN's gradient under RP, LR and TP: mean, spread, time."""
    import time

    import torch

    from . import PropagationManager
    from .systems import ChaoticRNN

    print(
        "d E[cost] / d beta on the chaotic 2-D sigmoid RNN "
        f"(1000 particles, 100 steps, {iterations} iterations each)\n"
    )
    print(f"{'beta':>5} {'plan':>4} {'mean':>12} {'std error':>11} {'variance':>11} {'ms/iter':>8}")
    torch.manual_seed(0)
    for beta in betas:
        for name in ("RP", "LR", "TP"):
            system = ChaoticRNN(beta=beta)
            pm = PropagationManager(default=name, sites=system.sites)
            start = time.perf_counter()
            grads = torch.stack([pm.estimate(system)["beta"] for _ in range(iterations)])
            ms = 1000 * (time.perf_counter() - start) / iterations
            print(
                f"{beta:5.1f} {name:>4} {grads.mean():12.4g} {grads.std() / iterations**0.5:11.3g} "
                f"{grads.var():11.3g} {ms:8.1f}"
            )
        print()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="proppo_lab")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="print chaotic-RNN gradient statistics under RP, LR, TP")
    d.add_argument("--iterations", type=int, default=30)
    e = sub.add_parser(
        "export",
        help="export a notebook to one self-contained offline HTML page "
        "(graphs as SVG, plotly plots interactive, maths as MathML, no network), "
        "or a folder of notebooks to a static site (a page each, an index, one plotly.js)",
    )
    e.add_argument("notebook", help="the .ipynb to export, or a folder of them (a site)")
    e.add_argument(
        "-o",
        "--output",
        help="the HTML page to write (default: NOTEBOOK.html), or the site's folder",
    )
    e.add_argument(
        "--execute",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the notebook first (fresh kernel) and export the live state "
        "(default: yes for a folder, no for one notebook)",
    )
    e.add_argument("--timeout", type=int, default=600, help="seconds per cell with --execute")
    e.add_argument("--kernel", default=None, help="kernel name with --execute")
    e.add_argument(
        "--save-notebook",
        default=None,
        help="with --execute: also write the executed notebook here",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.iterations)
    elif args.command == "export" and Path(args.notebook).is_dir():
        from .lab import site

        sizes = site.build(
            args.notebook,
            args.output or "site",
            execute_first=args.execute is not False,
            timeout=args.timeout,
            kernel_name=args.kernel,
        )
        print(f"wrote the site to {args.output or 'site'}/ (index.html)\n{site.report(sizes)}")
    elif args.command == "export":
        from .lab.export import export

        out = export(
            args.notebook,
            args.output,
            execute_first=bool(args.execute),
            timeout=args.timeout,
            kernel_name=args.kernel,
            save_notebook=args.save_notebook,
        )
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
