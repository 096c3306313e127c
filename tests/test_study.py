"""scripts/study.py's protocol end to end on study=smoke: equal trials per optimizer, phase 2
on fresh seeds, the report's columns and plots, resume without redoing trials, and a diverging
optimizer recorded as failed while the study completes."""

from __future__ import annotations

import copy
import csv
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch
from conftest import CONF, ROOT, options
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from ganopt.app.compose import compose_config
from ganopt.app.train import train
from ganopt.errors import ConfigError
from ganopt.study.report import budget_line, collect, write_report
from ganopt.study.runner import (
    Pruning,
    abandon_stale,
    held_trials,
    holders,
    load_study,
    presets_out_of_reach,
    run_study,
    score,
    search_overrides,
    search_space,
    slots,
    storage,
)

State = optuna.trial.TrialState
QUICK = ["experiment=optimizer_study_ring", "steps=50", "logger=none", "callbacks.samples.n=16"]


def study_config(tmp: Path, *overrides: str, base: list[str] | None = None) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("study", overrides=list(overrides))
    with open_dict(cfg):
        if base is not None:
            cfg.study.base = base
        cfg.storage, cfg.report_dir = str(tmp / "trials.journal"), str(tmp / "report")
        cfg.runs_dir = str(tmp / "runs")
        cfg.paths.output_dir = str(tmp / "out")
    return cfg


def trials(cfg: DictConfig, name: str) -> list[optuna.trial.FrozenTrial]:
    return load_study(cfg, name, storage(cfg.storage)).get_trials(deepcopy=False)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> DictConfig:
    cfg = study_config(tmp_path_factory.mktemp("smoke"), "study=smoke")
    run_study(cfg)
    write_report(cfg, Path(cfg.report_dir))
    return cfg


def test_every_optimizer_gets_the_same_trials_and_fresh_seeds(smoke: DictConfig) -> None:
    for optimizer in smoke.study.optimizers:
        search = holders(load_study(smoke, f"{optimizer}/phase1", storage(smoke.storage)))
        assert sorted(search) == [0, 1, 2]
        draws = {tuple(sorted(t.params.items())) for t in search.values()}
        assert len(draws) == 3  # every trial samples its own settings
        assert all(t.state in (State.COMPLETE, State.PRUNED) for t in search.values())
        assert all("seed=0" not in s for t in search.values() for s in t.user_attrs["settings"])
        final = holders(load_study(smoke, f"{optimizer}/phase2", storage(smoke.storage)))
        assert sorted(final) == [1, 2]  # seeds 1 and 2, not the search seed 0
        best = max((t for t in search.values() if t.state == State.COMPLETE), key=lambda t: t.value)
        assert all(t.user_attrs["settings"] == best.user_attrs["settings"] for t in final.values())


def test_report_has_the_columns_and_plots(smoke: DictConfig) -> None:
    report = Path(smoke.report_dir)
    with (report / "table.csv").open() as file:
        table = list(csv.DictReader(file))
    assert {row["optimizer"] for row in table} == {"adam", "rmsprop"}
    for column in (
        "score mean",
        "score median",
        "score 95% CI low",
        "score 95% CI high",
        "success rate",
        "grad evals per run",
        "phase-1 trials (done/pruned/failed)",
    ):
        assert column in table[0]
    for row in table:
        assert (
            float(row["score 95% CI low"])
            <= float(row["score mean"])
            <= float(row["score 95% CI high"])
        )
        assert float(row["grad evals per run"]) == 2 * 150  # D and G, one gradient each
    text = (report / "table.md").read_text()
    assert "over phase-2 seed pairs" in text
    # 2 optimizers x (3 search trials + 2 seeds + 2 untuned); no hand-loop rate: no efficiency
    assert re.search(r"Budget: 14 runs, [\d,]+ gradient evaluations, [\d.]+ min", text)
    assert "efficiency: set study.hand_loop_steps_per_s" in text
    timed = smoke.copy()
    with open_dict(timed):
        timed.study.hand_loop_steps_per_s = 100.0
    found = re.search(
        r"efficiency (\d+\.\d+) \(at the hand-written loop's 100 steps/s; (\d\.\d) trials at a",
        budget_line(timed, collect(timed)),
    )
    assert found and 0 < float(found.group(1)) < 10
    assert 1.0 <= float(found.group(2)) <= 2.0  # the smoke study's 2 workers, measured
    for name in ("expected_best.png", "lr_sensitivity.png"):
        assert (report / name).stat().st_size > 5_000


def test_workers_run_trial_after_trial(smoke: DictConfig) -> None:
    """The same 2 processes ran the 14 trials of all three phases."""
    pids = {
        t.user_attrs["pid"]
        for o in smoke.study.optimizers
        for phase in ("phase1", "phase2", "untuned")
        for t in trials(smoke, f"{o}/{phase}")
    }
    assert len(pids) <= smoke.workers


def test_a_second_run_in_one_process_repeats_the_first(tmp_path: Path) -> None:
    """What a reused worker relies on: nothing of one trial leaks into the next."""
    overrides = [*QUICK, "seed=3", "threads=1", "optimizer=oadam"]
    first, second = (train(compose_config(overrides, tmp_path / run)) for run in ("a", "b"))
    timing = {"wall_time_s", "perf/steps_per_sec"}
    assert {k: v for k, v in first.items() if k not in timing} == {
        k: v for k, v in second.items() if k not in timing
    }
    assert any(k.startswith("eval/") for k in first)


def test_rerunning_a_finished_study_runs_nothing(smoke: DictConfig, caplog) -> None:
    before = {o: len(trials(smoke, f"{o}/phase1")) for o in smoke.study.optimizers}
    journal = Path(smoke.storage).read_bytes()
    with caplog.at_level(logging.INFO):
        run_study(smoke)
    assert {o: len(trials(smoke, f"{o}/phase1")) for o in smoke.study.optimizers} == before
    # nothing is written to the journal, so a committed one stays clean
    assert Path(smoke.storage).read_bytes() == journal
    # finished slots are skipped before any worker process is started for them
    assert "phase 1: 0 of 6 slots to run, 2 workers" in caplog.messages
    assert "phase 2: 0 of 4 slots to run, 2 workers" in caplog.messages
    assert "phase untuned: 0 of 4 slots to run, 2 workers" in caplog.messages
    assert not [m for m in caplog.messages if "leaves out" in m]
    narrow = smoke.copy()
    narrow.study.space = {"lr_generator": {"low": 5e-4}}  # above both presets' rates
    run_study(narrow)
    assert (
        "the search spaces leave out adam optimizer.generator.lr=0.0002 (lr_generator "
        "[0.0005, 0.01]), rmsprop optimizer.generator.lr=0.0001 (lr_generator [0.0005, 0.01]): "
        "phase 1 cannot try the setting each of these optimizers is configured with, which "
        "handicaps it; widen study.space.<name> (or optimizer.search in its conf/optimizer file)."
    ) in caplog.messages


def test_a_killed_study_reruns_only_the_unfinished_slot(tmp_path: Path) -> None:
    cfg = study_config(
        tmp_path,
        "study=smoke",
        "study.optimizers=[adam]",
        "study.trials=2",
        "study.seeds=1",
        "phases=[1]",
        "workers=1",  # each phase starts its workers: one process, one phase, is enough here
        base=QUICK,
    )
    study = load_study(cfg, "adam/phase1", storage(cfg.storage))
    stale = study.ask()  # what a killed worker leaves: a RUNNING trial holding slot 0
    dead = subprocess.Popen(["true"])
    dead.wait()
    for key, value in (("slot", 0), ("host", socket.gethostname()), ("pid", dead.pid)):
        stale.set_user_attr(key, value)
    running = study.ask()  # a live worker's trial (this process) is not touched
    for key, value in (("slot", 1), ("host", socket.gethostname()), ("pid", os.getpid())):
        running.set_user_attr(key, value)
    assert abandon_stale(cfg) == 1
    running.set_user_attr("abandoned", True)  # now let the study rerun slot 1 as well
    study.tell(running, state=State.FAIL)
    run_study(cfg)
    search = holders(load_study(cfg, "adam/phase1", storage(cfg.storage)))
    assert sorted(search) == [0, 1] and search[0].number != stale.number
    assert all(t.state == State.COMPLETE for t in search.values())


def test_untuned_runs_the_presets_and_untimed_runs_are_timed_again(tmp_path: Path) -> None:
    """The untuned ruleset trains each preset as shipped on the phase-2 seeds; a phase-2 run from
    before time to target was recorded gives way to a new run of its configuration and seed,
    and stays in the journal."""
    cfg = study_config(
        tmp_path,
        "study=smoke",
        "study.optimizers=[adam]",
        "study.seeds=1",
        "phases=[2,untuned]",
        "workers=1",
        base=QUICK,
    )
    store, settings = storage(cfg.storage), ["optimizer.generator.lr=0.001"]
    for name, slot in (("adam/phase1", 0), ("adam/phase2", 1)):
        trial = load_study(cfg, name, store).ask()
        trial.set_user_attr("slot", slot)
        trial.set_user_attr("settings", settings)
        trial.set_user_attr("metrics", {"eval/modes": 3.0})  # no target_* keys: untimed
        load_study(cfg, name, store).tell(trial, 1.0)
    old = trials(cfg, "adam/phase2")[0]
    run_study(cfg)
    final = holders(load_study(cfg, "adam/phase2", store))[1]
    assert final.number != old.number and final.user_attrs["settings"] == settings
    assert "target_step" in final.user_attrs["metrics"]
    assert [t.number for t in trials(cfg, "adam/phase2")] == [old.number, final.number]
    untuned = holders(load_study(cfg, "adam/untuned", store))
    assert sorted(untuned) == [1] and untuned[1].user_attrs["settings"] == []
    assert "target_gradient_evaluations" in untuned[1].user_attrs["metrics"]
    journal = Path(cfg.storage).read_bytes()
    run_study(cfg)  # everything timed now: nothing runs again
    assert Path(cfg.storage).read_bytes() == journal
    with pytest.raises(ConfigError, match=r"phases=\[3\] names 3: allowed are 1"):
        run_study(study_config(tmp_path / "x", "study=smoke", "phases=[3]"))


def test_a_diverging_optimizer_fails_its_trials_and_the_study_completes(tmp_path: Path) -> None:
    cfg = study_config(
        tmp_path,
        "study=smoke",
        "study.optimizers=[sgd]",
        "study.trials=2",
        "study.seeds=1",
        "+study.space.lr_generator={low:10,high:20}",
        "+study.space.lr_discriminator={low:10,high:20}",
        "phases=[1]",
        "workers=1",
        base=[*QUICK, "loss=wasserstein"],
    )
    run_study(cfg)
    search = holders(load_study(cfg, "sgd/phase1", storage(cfg.storage)))
    assert sorted(search) == [0, 1]
    assert all(
        t.state == State.FAIL and "diverged" in t.user_attrs["reason"] for t in search.values()
    )
    write_report(cfg, Path(cfg.report_dir))
    assert "0/0/2" in (Path(cfg.report_dir) / "table.md").read_text()


def test_a_trial_stopped_by_a_signal_does_not_hold_its_slot(tmp_path: Path) -> None:
    cfg = study_config(tmp_path, "study=smoke")
    study = load_study(cfg, "adam/phase1", storage(cfg.storage))
    for slot, reason in ((0, "interrupted: SIGTERM at generator step 40"), (1, "diverged: NaN")):
        trial = study.ask()
        trial.set_user_attr("slot", slot)
        trial.set_user_attr("reason", reason)
        study.tell(trial, state=State.FAIL)
    assert sorted(holders(study)) == [1]  # a diverged trial is a result; a stopped one is not


def test_sigterm_stops_the_study_its_trials_and_says_how_to_continue(tmp_path: Path) -> None:
    journal = tmp_path / "trials.journal"
    command = [
        sys.executable,
        "scripts/study.py",
        "study=smoke",
        "study.trials=4",
        f"storage={journal}",
        f"report_dir={tmp_path / 'report'}",
        f"runs_dir={tmp_path / 'runs'}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
        # long trials: the signal finds both workers in one, in its set-up or its training
        'study.base=["experiment=optimizer_study_ring","steps=20000","logger=none"]',
    ]
    study = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and study.poll() is None:
        time.sleep(1)
        if journal.exists() and len(running := states(journal, State.RUNNING)) == 2:
            break
    else:
        study.kill()
        pytest.fail(f"no two trials running within 120 s: {study.communicate()[0][-2000:]}")
    study.send_signal(signal.SIGTERM)
    output, _ = study.communicate(timeout=90)
    assert study.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in output
    assert "the study stopped on SIGTERM in phase 1, with 8 of its 8 slots still to run" in output
    assert "rerun the same command to continue" in output
    stopped = states(journal, State.FAIL)  # the two trials in flight, and no other started
    assert sorted(t.number for t in stopped) == sorted(t.number for t in running)
    assert all(t.user_attrs["reason"].startswith("interrupted: SIGTERM") for t in stopped)
    assert not states(journal, State.RUNNING)


def states(journal: Path, state: State) -> list[optuna.trial.FrozenTrial]:
    store = storage(journal)
    return [
        t
        for summary in optuna.get_all_study_summaries(store)
        for t in optuna.load_study(study_name=summary.study_name, storage=store).get_trials(
            deepcopy=False, states=(state,)
        )
    ]


def test_each_study_scores_only_its_own_objective(tmp_path: Path) -> None:
    """digits is judged by eval/fcd alone: the 2D studies' objective must not merge into it."""
    digits = study_config(tmp_path, "study=digits")
    assert dict(digits.study.objective) == {"eval/fcd": -1.0}
    assert dict(digits.study.target) == {"eval/fcd": "<= 14"}
    with pytest.raises(
        ConfigError,
        match=r"eval/modes, which this study's runs do not report; "
        r"they report eval/fcd",
    ):
        score({"eval/fcd": 11.0, "loss/d": 1.0}, {"eval/modes": 1.0, "eval/fcd": -1.0})
    assert score({"eval/fcd": 11.0}, dict(digits.study.objective)) == -11.0


def test_pruning_reports_each_evaluation_and_a_wrong_objective_stops_the_first() -> None:
    """A misnamed objective costs one evaluation (500 steps), not a whole trial."""
    study = optuna.create_study(direction="maximize")
    evaluation = SimpleNamespace(
        should_stop=False, callback_metrics={"eval/fcd": torch.tensor(11.0)}
    )
    at_500 = SimpleNamespace(generator_steps=500)
    Pruning(study.ask(), {"eval/fcd": -1.0}).on_validation_end(evaluation, at_500)
    assert study.trials[0].intermediate_values == {500: -11.0}
    with pytest.raises(ConfigError, match="eval/modes, which this study's runs do not report"):
        Pruning(study.ask(), {"eval/modes": 1.0}).on_validation_end(evaluation, at_500)


def test_a_search_space_that_leaves_out_an_optimizers_own_rate_is_named(tmp_path: Path) -> None:
    """Adagrad's preset lr is 1e-2: a digits space capped at 3e-3 could never try it."""
    assert presets_out_of_reach(study_config(tmp_path, "study=digits")) == []
    assert presets_out_of_reach(study_config(tmp_path, "study=grid")) == []
    narrow = study_config(
        tmp_path,
        "study=digits",
        "study.space.lr_generator.high=3e-3",
        "study.space.lr_discriminator.high=3e-3",
    )
    assert presets_out_of_reach(narrow) == [
        "adagrad optimizer.generator.lr=0.01 (lr_generator [3e-05, 0.003])",
        "adagrad optimizer.discriminator.lr=0.01 (lr_discriminator [3e-05, 0.003])",
    ]


def test_every_optimizer_preset_declares_a_space_that_holds_its_own_settings(
    tmp_path: Path,
) -> None:
    every = options("optimizer")
    cfg = study_config(tmp_path, "study=smoke", f"study.optimizers=[{','.join(every)}]")
    assert presets_out_of_reach(cfg) == []  # also: every declared key exists in the preset


@pytest.mark.parametrize("name", ["ring", "grid", "digits"])
def test_the_committed_studies_trials_lie_inside_the_declared_spaces(
    tmp_path: Path, name: str
) -> None:
    """The committed journals stay valid: each phase-1 trial's parameters are the parameters
    its optimizer's declared space (with the study's changes) has, and inside its ranges. Read
    only (the journal is not touched); optimizers added later may still be running."""
    cfg = study_config(tmp_path, f"study={name}")
    store = storage(ROOT / "docs" / "studies" / name / "trials.journal")
    complete = 0
    for optimizer in cfg.study.optimizers:
        space = {param.name: param for param in search_space(cfg, optimizer)}
        done = [t for t in held_trials(store, f"{optimizer}/phase1").values() if t.params]
        complete += len(done) >= cfg.study.trials
        for trial in done:
            assert set(trial.params) == set(space), (optimizer, trial.number)
            for key, value in trial.params.items():
                assert space[key].allows(value), (optimizer, trial.number, key, value)
    assert complete >= 5  # the optimizers compared first


def test_a_learning_rate_free_optimizer_searches_its_own_parameters(tmp_path: Path) -> None:
    cfg = study_config(tmp_path, "study=smoke")
    drawn = {
        "d_coef_generator": 2.5,
        "d_coef_discriminator": 0.5,
        "growth_rate": 1.05,
        "safeguard_warmup": False,
    }
    assert search_overrides(cfg, "prodigy", optuna.trial.FixedTrial(drawn)) == [
        "optimizer.generator.d_coef=2.5",
        "optimizer.discriminator.d_coef=0.5",
        "optimizer.generator.growth_rate=1.05",
        "optimizer.discriminator.growth_rate=1.05",
        "optimizer.generator.safeguard_warmup=false",
        "optimizer.discriminator.safeguard_warmup=false",
    ]
    beta = {"lr_generator": 1e-3, "lr_discriminator": 2e-3, "beta1": 0.25}
    assert search_overrides(cfg, "adam", optuna.trial.FixedTrial(beta))[-2:] == [
        "optimizer.generator.betas=[0.25,0.999]",
        "optimizer.discriminator.betas=[0.25,0.999]",
    ]


def test_a_space_change_no_optimizer_searches_is_named(tmp_path: Path) -> None:
    cfg = study_config(tmp_path, "study=smoke", "+study.space.lr={low:1e-4,high:1e-2}")
    with pytest.raises(ConfigError, match=r"study.space changes lr, which none of"):
        run_study(cfg)
    assert not Path(cfg.storage).exists()


@pytest.mark.filterwarnings("error::optuna.exceptions.ExperimentalWarning")  # chosen: silent
def test_quasi_random_search_is_a_setting_and_tpe_stays_the_default(tmp_path: Path) -> None:
    tpe = study_config(tmp_path, "study=smoke")
    assert isinstance(
        load_study(tpe, "adam/phase1", storage(tpe.storage)).sampler, optuna.samplers.TPESampler
    )
    qmc = study_config(tmp_path, "study=smoke", "study.sampler=qmc")
    study = load_study(qmc, "adam/phase1", storage(qmc.storage))
    assert isinstance(study.sampler, optuna.samplers.QMCSampler)
    drawn = [search_overrides(qmc, "adam", study.ask()) for _ in range(3)]
    assert len({tuple(d) for d in drawn}) == 3
    with pytest.raises(ConfigError, match=r"study.sampler='random' is not allowed"):
        run_study(study_config(tmp_path / "x", "study=smoke", "study.sampler=random"))


def test_an_optimizer_added_to_a_finished_study_runs_only_its_own_slots(
    smoke: DictConfig, caplog
) -> None:
    """The committed studies grow this way: a new optimizer's 3 + 2 slots, nothing else."""
    before = {
        name: [t.number for t in trials(smoke, name)]
        for name in ("adam/phase1", "adam/phase2", "rmsprop/phase1", "rmsprop/phase2")
    }
    grown = copy.deepcopy(smoke)
    grown.study.optimizers = ["adam", "rmsprop", "adafactor"]
    grown.study.base = [*smoke.study.base, "steps=50"]
    grown.workers = 1
    with caplog.at_level(logging.INFO):
        run_study(grown)
    assert "phase 1: 3 of 9 slots to run, 1 workers" in caplog.messages
    assert "phase 2: 2 of 6 slots to run, 1 workers" in caplog.messages
    assert "phase untuned: 2 of 6 slots to run, 1 workers" in caplog.messages
    assert {name: [t.number for t in trials(smoke, name)] for name in before} == before
    assert sorted(holders(load_study(grown, "adafactor/phase2", storage(grown.storage)))) == [1, 2]


def test_an_optimizer_run_untuned_only_has_no_search_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    """``study.untuned_only``, the benchmark's budget cut: phases 1 and 2 leave it out."""
    stray = study_config(tmp_path / "x", "study=smoke", "study.untuned_only=[lion]")
    with pytest.raises(ConfigError, match=r"study.untuned_only names lion, which study.optimi"):
        run_study(stray)
    cfg = study_config(tmp_path, "study=smoke", "study.untuned_only=[rmsprop]", "study.seeds=1")
    assert {s.optimizer for s in slots(cfg, 1)} == {"adam"}
    assert [(s.optimizer, s.phase) for s in slots(cfg, 2)] == [("adam", 2)]
    assert [s.optimizer for s in slots(cfg, "untuned")] == ["adam", "rmsprop"]
    write_report(cfg, Path(cfg.report_dir))
    table = (Path(cfg.report_dir) / "table.md").read_text()
    assert "Run untuned only (a budget cut, no search or phase 2): rmsprop." in table
    assert re.search(r"\| rmsprop \| untuned only \| 0 \|", table)
    assert re.search(r"\| adam \| - \| 0 \|", table)  # tuned, not run yet


def small_journal(where: str) -> None:
    """Two finished trials of one study, as a study's runs leave them (no training)."""
    study = optuna.create_study(
        study_name="adam/phase1", storage=storage(where), direction="maximize"
    )
    for value in (1.0, 2.0):
        trial = study.ask(
            {"lr_generator": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
        )
        trial.set_user_attr("slot", int(value) - 1)
        study.tell(trial, value)


def test_a_study_can_live_in_an_sqlite_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    small_journal(url)
    cfg = study_config(tmp_path, "study=smoke", "study.optimizers=[adam]")
    with open_dict(cfg):
        cfg.storage = url
    held = holders(load_study(cfg, "adam/phase1", storage(url)))
    assert sorted(held) == [0, 1] and (tmp_path / "studies.db").is_file()


def test_the_journal_opens_in_optuna_dashboard(tmp_path: Path) -> None:
    """Optuna's web UI on 127.0.0.1 reads the study back over HTTP, then is stopped."""
    import json
    import urllib.request

    journal = tmp_path / "trials.journal"
    small_journal(str(journal))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dashboard = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "optuna-dashboard"),
            str(journal),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        studies = None
        for _ in range(60):  # at most ~30 s for the server to come up
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    studies = json.load(r)["study_summaries"]
                break
            except OSError:
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer"
        assert [s["study_name"] for s in studies] == ["adam/phase1"]
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=10)
