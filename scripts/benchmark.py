"""Overhead of ganopt's training path over a hand-written loop doing the same work.

python scripts/benchmark.py [--case grid_mlp|digits_dcgan|all] [--rounds 5] [--steps N]
    [--warmup W] [--device cpu|cuda] [--precision 32-true|16-mixed|bf16-mixed] [--threads T]
    [hydra overrides for both paths]

The logic lives in ganopt.benchmark, so the tests run the same code.
"""

from __future__ import annotations

import sys

from ganopt.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
