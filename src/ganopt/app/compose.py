"""The task config Hydra would pass to a script, composed in-process (studies, the benchmark,
tests), on the same search path as the running app: a forker's configs kept outside the
repository (``hydra.searchpath``, ``--config-dir``) compose here as they do on the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from ganopt.app.config import CONF, register_resolvers

# Config sources every app has: Hydra's own, the app's primary directory, structured configs.
_BUILT_IN_SOURCES = {"hydra", "main", "schema"}


def app_searchpath() -> list[str]:
    """Where the running Hydra app finds configs beyond ``conf/`` and Hydra's own: the entries of
    ``hydra.searchpath`` and ``--config-dir`` (and search path plugins'); none outside an app."""
    if not HydraConfig.initialized():
        return []
    return [
        f"{source.schema}://{source.path}"
        for source in HydraConfig.get().runtime.config_sources
        if source.provider not in _BUILT_IN_SOURCES
    ]


def searchpath_override(entries: Sequence[str]) -> list[str]:
    """``entries`` as the one ``hydra.searchpath=[...]`` override that adds them (none: [])."""
    if not entries:
        return []
    quoted = ",".join(
        "'" + entry.replace("\\", "\\\\").replace("'", "\\'") + "'" for entry in entries
    )
    return [f"hydra.searchpath=[{quoted}]"]


def group_options(group: str, overrides: Sequence[str] = ()) -> list[str]:
    """The options of a config group as Hydra finds them: ``conf/`` and the search path that
    ``overrides`` add (``hydra.searchpath=[...]``)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        return sorted(loader.get_group_options(group, overrides=list(overrides)))


def compose_config(overrides: Sequence[str], output_dir: Path, name: str = "train") -> DictConfig:
    """``name``'s config with ``overrides`` and its run directory at ``output_dir``; the group
    choices resolve as in a Hydra run (metrics.json records them)."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
    HydraConfig.instance().set_config(cfg)  # makes ${hydra:...} and the group choices resolve
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(output_dir)  # fixed now: HydraConfig changes with each compose
    return cfg
