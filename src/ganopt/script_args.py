"""``key=value`` arguments for the scripts that read a checkpoint (generate.py, eval.py).

Hydra's syntax, so they feel like scripts/train.py, but no Hydra app: a script that only reads a
checkpoint should not create a run directory. Only torch is imported here, so ``--help`` and
argument mistakes answer at once; every mistake is a ``ConfigError`` naming the key, which the
scripts print in one paragraph with exit status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ganopt.errors import ConfigError

EXAMPLE_CKPT = "logs/train/runs/<date>/checkpoints/last.ckpt"


@dataclass(frozen=True)
class Arg:
    """One ``key=value`` argument: its type, default (None: unset) and one line of help."""

    type: type
    default: Any
    help: str


TRUE, FALSE, NULL = {"true", "yes", "1"}, {"false", "no", "0"}, {"null", "none", "~"}
TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a value"}


def _convert(key: str, text: str, arg: Arg) -> Any:
    if text.lower() in NULL:
        return None
    try:
        if arg.type is bool:
            if text.lower() not in TRUE | FALSE:
                raise ValueError(text)
            return text.lower() in TRUE
        return arg.type(text)
    except ValueError:
        raise ConfigError(
            f"{key}={text} is not allowed: {key} takes {TYPE_WORDS.get(arg.type, 'a value')} "
            f"({arg.help})."
        ) from None


def usage(prog: str, args: dict[str, Arg], summary: str) -> str:
    lines = [f"usage: python scripts/{prog} ckpt_path=<last.ckpt> [key=value ...]", "", summary, ""]
    width = max(len(key) for key in args) + 2
    for key, arg in args.items():
        shown = str(arg.default).lower() if isinstance(arg.default, bool) else arg.default
        default = "" if arg.default is None else f" (default: {shown})"
        lines.append(f"  {key:<{width}}{arg.help}{default}")
    return "\n".join(lines)


def parse_args(prog: str, args: dict[str, Arg], argv: Sequence[str]) -> dict[str, Any]:
    """``key=value`` arguments as a dict of every key (defaults filled in, values typed).

    Hydra's syntax, so the scripts feel like scripts/train.py, but no Hydra app: a script that
    only reads a checkpoint should not create a run directory. ``ckpt_path`` is required.
    """
    values = {key: arg.default for key, arg in args.items()}
    for item in argv:
        key, sep, text = item.partition("=")
        if not sep or key not in args:
            known = ", ".join(f"{k}=" for k in args)
            what = f"unknown argument {key}" if sep else "an argument without '='"
            raise ConfigError(
                f"{what} ({item!r}): {prog} takes key=value arguments, e.g. ckpt_path=<path>; "
                f"known keys are {known} (python scripts/{prog} --help describes them)."
            )
        values[key] = _convert(key, text, args[key])
    if values.get("ckpt_path") is None:
        raise ConfigError(
            f"ckpt_path is missing: {prog} needs the checkpoint of a training run, e.g. "
            f"python scripts/{prog} ckpt_path={EXAMPLE_CKPT}."
        )
    return values


def check_positive(values: dict[str, Any], *keys: str, minimum: int = 1) -> None:
    """A ConfigError naming the key when a count is below ``minimum``."""
    for key in keys:
        value = values.get(key)
        if value is not None and value < minimum:
            raise ConfigError(f"{key}={value} is not allowed: use a whole number >= {minimum}.")


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else the CPU; a CUDA request without CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"device={name} is not allowed: use auto, cpu, cuda or cuda:<index>."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name}, but torch sees no CUDA device here; use device=cpu (checkpoints "
            "trained on a GPU load on the CPU)."
        )
    return device


def script_main(
    prog: str,
    args: dict[str, Arg],
    summary: str,
    run: Callable[[dict[str, Any]], int],
    argv: Sequence[str] | None = None,
) -> int:
    """A checkpoint script's ``main``: ``--help``, parsing, then ``run(values)`` (its exit
    status); a ConfigError from either is printed as one paragraph with exit status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if {"-h", "--help"} & set(argv):
        print(usage(prog, args, summary))
        return 0
    try:
        return run(parse_args(prog, args, argv))
    except ConfigError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
