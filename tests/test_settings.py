"""Every setting is declared with a type and range (ganopt.app.schema): a walk over every option of
every config group of every script finds no undeclared key and no shipped value its declaration
refuses; every declared range refuses a value outside it, naming the key; the mistakes users
make answer in one paragraph with exit status 2, the key on the last line, nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CONF, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf, open_dict

from ganopt.app.config import validate
from ganopt.app.schema import TABLES, Role, role
from ganopt.app.settings import Setting, check, declaration, leaves
from ganopt.errors import ConfigError

# The groups each script composes (every option of each is walked) and further compositions.
# The n-th composition takes the n-th option of every group at once (values are checked one by
# one, so which options meet does not matter), except for groups that set other groups.
GROUPS = {
    "train": [
        *("data", "model", "optimizer", "loss", "scheduler", "update_scheme", "trainer"),
        *("logger", "callbacks", "debug"),
    ],
    "games": ["game", "optimizer", "update_scheme", "loss", "methods"],
    "study": ["study"],
}
ALONE = {"train": ["experiment"]}
EXTRA = {
    "train": [["regularizer=[r1,gp]"], ["regularizer=[weight_clip]"], ["callbacks=best"]],
    "games": [["regularizer=[r1,gp,weight_clip]", "game=dirac"]],
}
MANDATORY = {"generate": ["ckpt_path=x.ckpt"], "eval": ["ckpt_path=x.ckpt"]}


def compositions(script: str) -> list[DictConfig]:
    options = {
        g: [p.stem for p in sorted((CONF / g).glob("*.yaml"))] for g in GROUPS.get(script, [])
    }
    runs = [[], *EXTRA.get(script, [])]
    for n in range(max(map(len, options.values()), default=0)):
        runs.append([f"{g}={names[n]}" for g, names in options.items() if n < len(names)])
    for group in ALONE.get(script, []):
        runs += [[f"{group}={p.stem}"] for p in sorted((CONF / group).glob("*.yaml"))]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return [compose(script, [*MANDATORY.get(script, []), *run]) for run in runs]


@pytest.fixture(scope="module")
def configs() -> dict[str, list[DictConfig]]:
    return {script: compositions(script) for script in TABLES}


@pytest.mark.parametrize("script", sorted(TABLES))
def test_every_key_of_every_option_is_declared_and_its_value_allowed(
    configs: dict[str, list[DictConfig]], script: str
) -> None:
    undeclared = set()
    for cfg in configs[script]:
        undeclared |= {k for k, _ in leaves(cfg) if declaration(TABLES[script], k) is None}
        check(cfg, TABLES[script])  # every shipped value is allowed by its declaration
    assert not undeclared, f"{script}: keys without a declaration: {sorted(undeclared)}"


def test_every_training_key_has_a_role(configs: dict[str, list[DictConfig]]) -> None:
    """Whether resume may change it, whether it tells runs apart: a new setting needs a role."""
    unclassified = {k for cfg in configs["train"] for k, _ in leaves(cfg) if role(k) is None}
    assert not unclassified, (
        f"keys without a role in ganopt.app.schema.ROLES: {sorted(unclassified)}"
    )


def test_roles_keep_what_resume_and_comparison_relied_on() -> None:
    """The state a checkpoint holds cannot change on resume; where data lives and how a run
    executes never split a comparison; the seed is a replicate."""
    for key in ("model.generator.hidden", "optimizer.generator.lr", "scheduler.generator.T_max",
                "ema.decay", "data.batch_size", "data.base.resolution"):  # fmt: skip
        assert role(key) == Role.STATE, key
    assert role("seed") == role("data.seed") == Role.SEED
    execution = ("data.root", "data.num_workers", "threads", "compile", "channels_last")
    showing = ("trainer.devices", "logger.tensorboard.name", "callbacks.samples.n", "paths.x")
    for key in (*execution, *showing):
        assert role(key) == Role.HOW, key
    for key in ("steps", "loss.generator", "regularizer.r1.gamma", "trainer.precision",
                "callbacks.evaluation.n_samples"):  # fmt: skip
        assert role(key) == Role.RUN, key


def outside(setting: Setting, value: Any) -> Any:
    """A value of the right type just outside the declared range, or of the wrong type."""
    if setting.choices is not None:
        return "not-a-choice" if setting.kind == "str" else -12345
    if setting.kind == "list" and setting.length is not None:
        return list(value)[:1] if len(value) > 1 else [*value, *value, *value, *value]
    if setting.low is not None:
        return setting.low if setting.above else setting.low - 1
    if setting.high is not None:
        return setting.high + 1
    return {"int": "abc", "float": "abc", "bool": "maybe", "str": 7}.get(setting.kind)


@pytest.mark.parametrize("script", sorted(TABLES))
def test_every_declared_range_refuses_a_value_outside_it(
    configs: dict[str, list[DictConfig]], script: str
) -> None:
    """One bad value per declared key of the default composition: a ConfigError naming it. Each
    is checked alone (the walk over whole compositions is the test above), which keeps this
    linear in the number of keys."""
    tried = 0
    for key, value in leaves(configs[script][0]):
        setting = declaration(TABLES[script], key)
        if setting is None or setting.kind == "any" or key.split(".")[-1].startswith("_"):
            continue
        bad = outside(setting, value)
        if bad is None or setting.problem(bad) is None:
            continue
        alone = OmegaConf.create()
        OmegaConf.update(alone, key, bad, force_add=True)
        with pytest.raises(ConfigError, match=rf"^{key}=.* is not allowed: {key} takes "):
            check(alone, TABLES[script])
        tried += 1
    assert tried >= 3


# ---- the mistakes of the issue, answered before any work -----------------------------------------
def train_config(*overrides: str) -> DictConfig:
    from ganopt.app.compose import compose_config

    return compose_config(list(overrides), ROOT / "logs" / "never")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["threads=abc"], "threads"),
        (["seed=-3"], "seed"),
        (["optimizer.generator.betas=[0.5]"], "optimizer.generator.betas"),
        (["optimizer=ademamix", "optimizer.generator.betas=[0.9,0.99]"], "optimizer.generator"),
        (["callbacks=best", "callbacks.best.monitor=eval/modes"], "callbacks.best.monitor"),
        (["+target={eval/modes: '>= 8'}"], "target.eval/modes"),
        (["optimizer.discriminator.lr=0"], "optimizer.discriminator.lr"),
        (["optimizer=sgd", "optimizer.generator.momentum=1.5"], "optimizer.generator.momentum"),
        (["data.batch_size=0"], "data.batch_size"),
        (["ema.decay=1.5"], "ema.decay"),
    ],
)
def test_train_answers_bad_values_naming_the_key(overrides: list[str], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}[=: ]"):
        validate(train_config(*overrides))


def study_config(tmp: Path, *overrides: str) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("study", overrides=list(overrides))
    with open_dict(cfg):
        cfg.storage, cfg.runs_dir = str(tmp / "trials.journal"), str(tmp / "runs")
    return cfg


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["study.optimizers=[adam,admw]"], "study.optimizers names admw, .*did you mean adamw"),
        (["+study.space.lr_generator={low:0.01,high:0.0001}"], "study.space.lr_generator"),
        (["workers=0"], "workers"),
        (["study.trials=0"], "study.trials"),
        (["study.seeds=-1"], "study.seeds"),
        (["study.sampler=random"], "study.sampler"),
        (["phases=[3]"], "phases"),
        (
            ["study.base=['data=gaussians_ring','model=mlp','steps=0']"],
            "study.base with optimizer=adam: steps=0",
        ),
        (["study.base=['stepz=10']"], "study.base with optimizer=adam does not compose"),
        (["study.target={eval/modes: 'at least 8'}"], "study.target.eval/modes="),
    ],
)
def test_study_answers_bad_values_naming_the_key(
    tmp_path: Path, overrides: list[str], key: str
) -> None:
    from ganopt.study.runner import check_study

    with pytest.raises(ConfigError, match=rf"^{key}"):
        check_study(study_config(tmp_path, *overrides))
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_damaged_journal_is_named_with_what_to_do(tmp_path: Path) -> None:
    from ganopt.study.runner import check_study

    journal = tmp_path / "trials.journal"
    journal.write_text('{"op_code": 0, "worker_id": "x"\ngarbage\n')
    before = journal.read_bytes()
    with pytest.raises(
        ConfigError, match=r"storage=.*trials.journal cannot be read .*git checkout"
    ):
        check_study(study_config(tmp_path))
    assert journal.read_bytes() == before


@pytest.mark.parametrize(
    ("script", "overrides", "key"),
    [
        ("games", ["steps=0"], "steps"),
        ("games", ["start=[1.0]"], "start"),
        ("games", ["spectrum.k=0"], "spectrum.k"),
        ("games", ["verdict.diverge_ratio=-1"], "verdict.diverge_ratio"),
        ("eval", ["n_samples=1"], "n_samples"),
        ("eval", ["device=7"], "device"),
        ("generate", ["n=0"], "n"),
        ("generate", ["interpolation=cubic"], "interpolation"),
        ("generate", ["seed=-1"], "seed"),
    ],
)
def test_games_generate_and_eval_answer_bad_values(
    script: str, overrides: list[str], key: str
) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(script, [*MANDATORY.get(script, []), *overrides])
    with pytest.raises(ConfigError, match=rf"^{key}=.* is not allowed: {key} takes "):
        check(cfg, TABLES[script])


# ---- as a user sees it: exit status 2, the key on the last line, nothing left behind -------------
@pytest.mark.parametrize(
    ("script", "overrides", "key"),
    [
        ("train", ["threads=abc"], "threads"),
        ("study", ["study.optimizers=[adam,admw]"], "study.optimizers"),
        ("games", ["steps=0"], "steps"),
        ("eval", ["ckpt_path=missing.ckpt", "n_samples=1"], "n_samples"),
        ("generate", ["ckpt_path=missing.ckpt", "n=0"], "n"),
    ],
)
def test_each_script_exits_2_with_the_key_on_its_last_line(
    tmp_path: Path, script: str, overrides: list[str], key: str
) -> None:
    run_dir = tmp_path / "run"
    extra = [f"storage={tmp_path / 'trials.journal'}"] if script == "study" else []
    done = subprocess.run(
        [sys.executable, f"scripts/{script}.py", *overrides, *extra, f"hydra.run.dir={run_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert f"Configuration error: {key}" in output.splitlines()[-1]
    assert not run_dir.exists() and not (tmp_path / "trials.journal").exists()
