"""What the scripts (train.py, games.py, study.py) do around their work: short answers to
command-line mistakes, the overrides of a resumed run, and the exit status of every way a run
can end.

Hydra composes the config before the task function runs and reports its own errors in several
lines with exit status 1; ``precheck`` composes the command line first (about 0.3 s) so an
unknown key or option, or a launcher this machine lacks, gets one paragraph and exit status 2.
"""

from __future__ import annotations

import difflib
import logging
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ganopt.errors import EXIT_CONFIG_ERROR, ConfigError, RunStopped, missing_package

log = logging.getLogger("ganopt")

# Hydra's flags that print or change what is composed: left to Hydra untouched.
_HYDRA_FLAGS = re.compile(r"^-(?!m$|-multirun$)")


def _options(conf: Path, group: str) -> list[str]:
    return sorted(p.stem for p in (conf / group).glob("*.yaml"))


def nearest(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


def _first_values(args: list[str]) -> list[str] | None:
    """The overrides of one job (and ``hydra.searchpath``): a sweep contributes its first
    value. None: not parseable."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except Exception:  # Hydra's own message for its syntax is clear enough
        return None
    lines = []
    for override in overrides:
        if override.is_hydra_override() and override.key_or_group != "hydra.searchpath":
            continue  # the search path decides what composes: kept (a forker's own configs)
        if override.is_sweep_override():
            try:
                value = next(override.sweep_string_iterator())
            except Exception:  # interval sweeps (Optuna) have no first value
                continue
            lines.append(f"{override.get_key_element()}={value}")
        else:
            lines.append(str(override.input_line))
    return lines


def precheck(args: list[str], conf: Path, config_name: str = "train") -> None:
    """Raise ConfigError for a command-line mistake Hydra would answer at length."""
    if any(_HYDRA_FLAGS.match(arg) for arg in args):  # --help, --cfg job, -cn ...: Hydra's
        return
    for arg in args:
        if "=" not in arg and arg[:1] not in "-~":
            raise ConfigError(
                f"{arg!r} is not an override: scripts/{config_name}.py takes key=value settings "
                f"(e.g. ckpt_path=<path>, seed=3); `python scripts/{config_name}.py --help` lists "
                "them."
            )
    if any(arg.startswith("hydra/launcher=slurm") for arg in args) and not shutil.which("sbatch"):
        raise ConfigError(
            "hydra/launcher=slurm submits each run as a SLURM job with sbatch, and this machine "
            "has no SLURM (sbatch is not on PATH). Run the sweep here instead: "
            "hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1 for runs in parallel, or "
            "leave hydra/launcher out for one run at a time."
        )
    lines = _first_values(args)
    if lines is None:
        return
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, MissingConfigException

    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            compose(config_name, overrides=lines)
    except MissingConfigException as error:
        found = re.search(r"Could not find '([^']+)/([^'/]+)'", str(error))
        if found is None:
            return
        group, name = found.groups()
        options = list(error.options or []) or _options(conf, group)
        raise ConfigError(
            f"{group}={name}: Could not find '{group}/{name}'{nearest(name, options)}. The "
            f"options of {group} are: {', '.join(options)}."
        ) from None
    except ConfigCompositionException as error:
        found = re.match(r"Could not override '([^']+)'", str(error))
        if found is None:
            return
        key = found.group(1)
        line = next(line for line in lines if line.split("=", 1)[0].lstrip("+~") == key)
        parent, _, leaf = key.rpartition(".")
        siblings = _keys(conf, config_name, [x for x in lines if x != line], parent)
        raise ConfigError(
            f"{line}: the config has no key {key}{nearest(leaf, siblings)}. "
            f"`python scripts/{config_name}.py --cfg job` prints every key; to add a new one, "
            f"write +{line}."
        ) from None
    except Exception:  # anything else: Hydra reports it as usual
        return


def _keys(conf: Path, config_name: str, lines: list[str], parent: str) -> list[str]:
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(config_name, overrides=lines)
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except Exception:
        return []
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def expand_resume(args: list[str]) -> list[str]:
    """``ckpt_path=<file>`` with the overrides its run was started with, the given ones on top
    (a key given now wins), so Hydra composes the run being continued: its networks, data and
    optimizers, and its group choices in metrics.json. ``ckpt_path=auto`` expands when
    ``hydra.run.dir`` names the directory; a requeued job repeats its own command anyway."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides([a for a in args if a[:1] != "-"])
    except Exception:
        return args
    given = {o.key_or_group: o for o in overrides}
    if "ckpt_path" not in given or given["ckpt_path"].is_sweep_override():
        return args
    path = str(given["ckpt_path"].value())
    if path == "auto":
        run_dir = given.get("hydra.run.dir")
        if run_dir is None:
            return args
        path = str(Path(str(run_dir.value())) / "checkpoints" / "last.ckpt")
    if not Path(path).is_file():
        return args  # auto: a fresh start; a missing file: train() says so
    from ganopt.app.resume import merged_overrides, stored_overrides  # torch: only to resume

    stored = stored_overrides(path)
    if stored is None:
        return args
    task = [str(o.input_line) for o in overrides if not o.is_hydra_override()]
    own = [a for a in args if a not in task]  # flags (-m) and hydra.* overrides
    return [*own, *merged_overrides(stored, task)]


@contextmanager
def exit_status(cfg: DictConfig) -> Iterator[None]:
    """Every way a run ends, as an exit status and one paragraph instead of a traceback: a
    ConfigError (2; the run directory is removed when nothing of value is in it), a run that
    diverged (3), could not save (4) or was interrupted by a signal (128 + its number)."""
    from hydra.errors import InstantiationException

    try:
        try:
            yield
        except InstantiationException as error:  # e.g. the games lab building an optimizer
            raise missing_package(error) or error from None
    except ConfigError as error:
        log.error("Configuration error: %s", error)
        remove_if_empty(Path(cfg.paths.output_dir))
        sys.exit(EXIT_CONFIG_ERROR)
    except RunStopped as stopped:
        log.error("Run %s: %s", stopped.status, stopped)
        sys.exit(stopped.exit_code)


# What Hydra and the loggers create before the first step (and the script's <task>.log): a run
# directory holding only these stopped before its work and is removed, so a mistake leaves no
# empty run behind.
_BEFORE_TRAINING = {".hydra", "tensorboard"}


def run_app(main: Callable[[], Any], config_name: str, resume: bool = False) -> None:
    """A script's ``__main__``: resolvers, the command line checked (and, for ``resume``,
    ``ckpt_path=`` expanded into its run's overrides), then the Hydra app ``main``."""
    from ganopt.app.config import CONF, register_resolvers

    register_resolvers()
    try:
        if resume:
            sys.argv[1:] = expand_resume(sys.argv[1:])
        precheck(sys.argv[1:], CONF, config_name)
    except ConfigError as error:
        logging.basicConfig(format="[%(levelname)s] %(message)s")
        log.error("Configuration error: %s", error)
        sys.exit(EXIT_CONFIG_ERROR)
    main()


def remove_if_empty(run_dir: Path) -> None:
    """Delete a run directory that holds nothing but what is made before training."""
    if not run_dir.is_dir() or Path.cwd().resolve().is_relative_to(run_dir.resolve()):
        return
    made = [entry for entry in run_dir.iterdir() if entry.suffix != ".log"]
    if any(entry.name not in _BEFORE_TRAINING for entry in made):
        return
    logging.shutdown()  # close train.log first
    shutil.rmtree(run_dir, ignore_errors=True)
