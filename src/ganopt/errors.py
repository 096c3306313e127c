"""The exception types a run can end with, instead of a traceback, and the exit status of each.

``ConfigError`` is a user mistake found before training (exit 2). The ``RunStopped`` family is a
run that started and did not finish: it diverged, was interrupted by a signal, or could not save
its checkpoint. train() writes metrics.json with the matching ``status`` before raising one, so
a sweep or a study can tell a diverged run from a finished one without parsing logs.
"""

from __future__ import annotations

import re
import signal

EXIT_CONFIG_ERROR = 2  # a mistake in the command line, the config or a given file
EXIT_DIVERGED = 3  # NaN/Inf in a loss or in the weights
EXIT_SAVE_FAILED = 4  # last.ckpt could not be written (the previous one is intact)
# Interrupted by a signal: 128 + its number, the shell's convention (130 SIGINT, 143 SIGTERM).


class ConfigError(ValueError):
    """A configuration value the user can fix; the message names the key and what is allowed."""


class RunStopped(RuntimeError):
    """A run that started and did not finish; ``status`` is what metrics.json records."""

    status = "failed"
    exit_code = 1

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step  # the generator step reached

    def __reduce__(self) -> tuple:  # picklable: a study's worker process raises it
        return type(self), (str(self), self.step)


class RunDiverged(RunStopped):
    status = "diverged"
    exit_code = EXIT_DIVERGED


class SaveFailed(RunStopped):
    status = "failed"
    exit_code = EXIT_SAVE_FAILED


class RunInterrupted(RunStopped):
    status = "interrupted"

    def __init__(self, message: str, step: int, signum: int) -> None:
        super().__init__(message, step)
        self.signum = signum
        self.exit_code = 128 + signum

    def __reduce__(self) -> tuple:
        return type(self), (str(self), self.step, self.signum)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line and at most ``limit`` characters, to quote it inside a
    ConfigError (torch's and torchvision's messages span several lines)."""
    text = " ".join(str(error).split()).rstrip(".:") or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# The packages behind some optimizer presets, by the module Hydra imports: optional, so ganopt
# imports none of them unless such a preset is used (pip install -e '.[optimizers]': all).
OPTIONAL_PACKAGES = {
    "schedulefree": "schedulefree",
    "prodigyopt": "prodigyopt",
    "pytorch_optimizer": "pytorch-optimizer",
}


def missing_package(error: BaseException) -> ConfigError | None:
    """The one-paragraph answer to building a config whose class lives in a package that is not
    installed (Hydra wraps the ModuleNotFoundError twice), naming the pip command; else None."""
    cause: BaseException | None = error
    while cause is not None and not (isinstance(cause, ModuleNotFoundError) and cause.name):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    module = str(getattr(cause, "name", "")).split(".")[0]
    package = OPTIONAL_PACKAGES.get(module, module.replace("_", "-"))
    key = re.search(r"full_key: (\S+)", str(error))
    where = f"{key.group(1)} builds a class from" if key else "This config needs"
    return ConfigError(
        f"{where} the Python package {package}, which is not installed (no module named "
        f"{module!r}). Install it with: pip install {package} (or every optional optimizer: "
        "pip install -e '.[optimizers]')."
    )
