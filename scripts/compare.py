"""Compare runs: python scripts/compare.py <multirun dir | run dirs…> [--out DIR] [--group-by KEYS].

Pools runs that differ only by seed into one row (mean ± std), writes table.md, table.csv and
PNG curves to DIR (default <first path>/comparison) and prints the table. The logic lives in
ganopt.report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganopt.report import CompareError, compare, markdown_table, write_all

EXAMPLES = """examples:
  python scripts/compare.py logs/train/multiruns/2026-01-01_12-00-00
  python scripts/compare.py logs/train/runs/A logs/train/runs/B --out reports/ab
  python scripts/compare.py logs/train/multiruns/<date> --group-by optimizer,optimizer.generator.lr

exit status: 0 when at least one finished run was read; 2 when a path does not exist or holds
no finished run; 1 when the outputs cannot be written."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="compare.py",
        description="Table (mean ± std over seeds) and curves of GAN runs, one row per "
        "configuration.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", type=Path, help="multirun dirs and/or run dirs")
    parser.add_argument("--out", type=Path, help="output dir (default: <first path>/comparison)")
    parser.add_argument(
        "--group-by",
        action="append",
        metavar="KEYS",
        help="comma-separated keys that define a configuration (default: everything in "
        "metrics.json's config except seed); dotted .hydra/config.yaml keys work too",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    group_by = [k for item in args.group_by or [] for k in item.replace(",", " ").split()]
    try:
        comparison = compare(args.paths, group_by=group_by or None)
    except CompareError as error:
        print(f"compare.py: error: {error}", file=sys.stderr)
        return 2
    out = args.out or args.paths[0] / "comparison"
    try:
        written = write_all(comparison, out)
    except OSError as error:
        print(f"compare.py: error: cannot write to {out}: {error}", file=sys.stderr)
        return 1
    print(markdown_table(comparison))
    for line in comparison.warnings():
        print(f"compare.py: warning: {line.replace('`', '')}", file=sys.stderr)
    names = ", ".join(p.name for p in written)
    print(f"compare.py: wrote {names} to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
