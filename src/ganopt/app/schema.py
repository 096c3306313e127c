"""The declared settings of every script (see ``ganopt.app.settings`` for the rules of the tables).

Each group's keys are declared once and shared: the optimizer keys serve train.py, the game
lab (``optimizer.*`` and every ``methods.*.optimizer.*``) and the study's trials alike.
"""

from __future__ import annotations

from enum import Enum

from ganopt.app.settings import (
    Table,
    anything,
    flag,
    listing,
    mapping,
    most_specific,
    number,
    positive,
    text,
    whole,
)

SEED = whole(0, 2**32 - 1, "a random seed")
PRECISIONS = ("64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")

COMMON: Table = {
    "task_name": text("the run directory's task"),
    "paths.*": text("a directory"),
    "**._target_": text("the class or function Hydra builds"),
    "**._partial_": flag("Hydra builds a factory, called later"),
    "**._recursive_": flag(),
    "**._convert_": text(),
}

# The hyperparameters of every optimizer preset (conf/optimizer, conf/network_optimizer), under
# either network and under a wrapper's base, matrices or rest optimizer. A value these ranges
# allow can still be refused by the optimizer class itself: train.py builds both optimizers
# before training to find out (``config.check_optimizers``).
OPTIMIZER: Table = {
    "optimizer.**.lr": positive("a learning rate"),
    "optimizer.**.betas": listing(
        number(0, 1, below=True), length=(2, 3), meaning="Adam's β₁, β₂ (AdEMAMix: β₃ too)"
    ),
    "optimizer.**.eps": anything("ε, a small number > 0 added for stability (Adafactor: a pair)"),
    "optimizer.**.weight_decay": number(0, meaning="weight decay"),
    "optimizer.**.momentum": number(0, 1, meaning="momentum"),
    "optimizer.**.nesterov": flag("Nesterov momentum"),
    "optimizer.**.alpha": number(0, meaning="RMSprop's smoothing, Lookahead's step, AdEMAMix's α"),
    "optimizer.**.beta2_decay": number(-1, 0, meaning="Adafactor's decay exponent"),
    "optimizer.**.d": positive("Prodigy's initial d"),
    "optimizer.**.d0": positive("Prodigy's initial step-size estimate"),
    "optimizer.**.d_coef": positive("Prodigy's step-size multiplier"),
    "optimizer.**.growth_rate": number(1, meaning="Prodigy's cap on d's growth per step"),
    "optimizer.**.safeguard_warmup": flag(),
    "optimizer.**.use_bias_correction": flag(),
    "optimizer.**.initial_accumulator_value": number(0, meaning="Adagrad's start"),
    "optimizer.**.k": whole(1, meaning="Lookahead's fast steps per slow step"),
    "optimizer.**.adjust_lr_fn": text("Muon's rate scaling", ("original", "match_rms_adamw")),
    "optimizer.**.ns_dtype": text("Muon's Newton-Schulz dtype", ("auto", "float32", "bfloat16")),
    "optimizer.**.ns_steps": whole(1, meaning="Newton-Schulz iterations"),
    "optimizer.**.min_ndim": whole(0, meaning="Split: parameters with this many dims go to Muon"),
    "optimizer.**.kernels": flag("Split: convolution kernels count as matrices"),
    "optimizer.**.ends": flag("Split: the first and last layers' weights go to Muon too"),
    "optimizer.**.precondition_frequency": whole(1, meaning="SOAP's steps between eigenbases"),
    "optimizer.**.r": number(0, meaning="Schedule-Free's weighting power"),
    "optimizer.**.weight_lr_power": number(0, meaning="Schedule-Free's lr weighting"),
    "optimizer.**.warmup_steps": whole(0, meaning="steps of learning-rate warm-up"),
    "optimizer.**.t_alpha_beta3": whole(1, meaning="AdEMAMix's warm-up of α and β₃", optional=True),
    # the study's search space of this optimizer (conf/optimizer/adam.yaml explains it)
    "optimizer.search.*.at": anything("the optimizer keys a searched value sets"),
    "optimizer.search.*.low": number(meaning="the range's low end"),
    "optimizer.search.*.high": number(meaning="the range's high end"),
    "optimizer.search.*.log": flag("search on a log scale"),
    "optimizer.search.*.int": flag("whole numbers"),
    "optimizer.search.*.choices": listing(meaning="the values to choose from"),
}

UPDATES: Table = {
    "d_steps": whole(1, meaning="discriminator updates per batch"),
    "g_steps": whole(1, meaning="generator updates per batch"),
    "update_scheme.d_steps": whole(1, meaning="discriminator updates per batch"),
    "update_scheme.g_steps": whole(1, meaning="generator updates per batch"),
    "regularizer": mapping("the discriminator's regularizers, from regularizer=[...]"),
    "regularizer.*.weight": number(0, meaning="the penalty's weight"),
    "regularizer.r1.gamma": number(0, meaning="R1's weight γ"),
    "regularizer.r1.every": whole(1, meaning="lazy R1: generator steps between penalties"),
    "regularizer.weight_clip.clip": positive("WGAN's weight-clipping bound"),
}

TRAIN: Table = {
    **COMMON,
    **OPTIMIZER,
    **UPDATES,
    "tags": listing(text(), meaning="labels of the run"),
    "steps": whole(1, meaning="generator updates: the training length"),
    "seed": SEED,
    "ckpt_path": text("a last.ckpt to resume from, or auto", optional=True),
    "clip_grad_norm.*": positive("max gradient norm; null = no clipping", optional=True),
    "ema.decay": number(0, 1, "the EMA generator's decay; null = off", optional=True),
    "ema.start": whole(0, meaning="generator steps before averaging starts"),
    "metrics.evaluators": mapping("what judges the samples (conf/metric)"),
    "metrics.evaluators.*.min_samples": whole(2, meaning="samples an evaluation draws at least"),
    "metrics.evaluators.*.min_samples_per_mode": whole(1, meaning="samples that make a mode"),
    "metrics.evaluators.*.hq_sigmas": positive("the radius of a high-quality sample, in σ"),
    "metrics.evaluators.*.min_class_fraction": number(0, 1, "share of samples a class needs"),
    "metrics.inception": flag("add Inception eval/fid and eval/kid"),
    "metrics.inception_weights": text("local Inception weights", optional=True),
    "target": mapping("the workload's target, {metric: '>= x'}", optional=True),
    "target.*": text("a rule, '>= <number>' or '<= <number>'"),
    "log_every_n_steps": whole(1, meaning="generator steps between logged training scalars"),
    "compile": anything("false, true or a torch.compile backend name"),
    "channels_last": flag("NHWC memory format for conv models"),
    "threads": whole(1, meaning="torch CPU threads; null = torch's default", optional=True),
    "flush_denormal": flag("CPU: compute denormal floats as zero (fast); false = IEEE"),
    "optimized_metric": text("the metric a sweeper optimises", optional=True),
    # data (conf/data), also a stacked data set's base
    "data.**.batch_size": whole(1, meaning="examples per batch and per process"),
    "data.**.resolution": whole(4, meaning="image side in pixels"),
    "data.**.crop": whole(1, meaning="center-crop side in pixels; null = no crop", optional=True),
    "data.**.num_workers": whole(0, meaning="decoding processes; 0 = in the training process"),
    "data.**.seed": SEED,
    "data.**.root": text("the data set's folder", optional=True),
    "data.**.download": flag("download the data set when missing"),
    "data.**.split": text("the data set's split"),
    "data.**.channels": whole(1, 4, "image channels"),
    "data.**.memory_mb": number(0, meaning="decoded images kept in memory, MiB; 0 = stream"),
    "data.**.verify": flag("decode every image once before training"),
    "data.std": positive("each mode's standard deviation"),
    "data.means.n_modes": whole(1, meaning="modes on the ring"),
    "data.means.radius": positive("the ring's radius"),
    "data.means.size": whole(1, meaning="modes per side of the grid"),
    "data.means.spacing": positive("the grid's spacing"),
    # model (conf/model)
    "model.*.latent_dim": whole(1, meaning="the latent code's size"),
    "model.*.hidden": whole(1, meaning="units per hidden layer"),
    "model.*.depth": whole(1, meaning="hidden layers"),
    "model.*.width": whole(1, meaning="channels of the widest conv layer"),
    "model.*.spectral_norm": flag("spectral normalisation of every layer"),
    # learning-rate schedules (conf/scheduler)
    "scheduler.*": mapping("a schedule; null = constant", optional=True),
    "scheduler.*.T_max": whole(1, meaning="steps of the cosine schedule"),
    "scheduler.*.start_factor": positive("the schedule's first factor"),
    "scheduler.*.end_factor": number(0, meaning="the schedule's last factor"),
    "scheduler.*.total_iters": whole(1, meaning="steps of the linear schedule"),
    # Lightning's Trainer (conf/trainer)
    "trainer.accelerator": text("the device", ("auto", "cpu", "gpu", "cuda", "mps", "tpu")),
    "trainer.devices": anything("a count, a list of indices, or auto"),
    "trainer.precision": text("Lightning's precision", PRECISIONS),
    "trainer.deterministic": anything("true, false or warn"),
    "trainer.max_epochs": whole(-1, meaning="-1: endless, ganopt stops at steps"),
    "trainer.max_steps": whole(-1, meaning="-1: ganopt stops at steps"),
    "trainer.num_nodes": whole(1, meaning="machines"),
    "trainer.num_sanity_val_steps": whole(-1),
    "trainer.enable_model_summary": flag(),
    "trainer.enable_progress_bar": flag(),
    "trainer.default_root_dir": text(),
    "trainer.sync_batchnorm": flag(),
    "trainer.strategy": anything("a strategy name or config"),
    "trainer.profiler": anything("a Lightning profiler name or config"),
    "trainer.strategy.find_unused_parameters": flag(),
    "trainer.strategy.process_group_backend": text(optional=True),
    # loggers (conf/logger)
    "logger": mapping("the loggers; {} = none"),
    "logger.*.name": text(optional=True),
    "logger.*.save_dir": text(),
    "logger.*.version": anything("the run's version folder"),
    "logger.*.default_hp_metric": flag(),
    # callbacks (conf/callbacks)
    "callbacks": mapping("the callbacks; {} = none"),
    "callbacks.*.every_n_steps": whole(
        0, meaning="generator steps between calls; 0 = only at the end"
    ),
    "callbacks.*.dirpath": text("where its files go"),
    "callbacks.samples.n": whole(1, meaning="samples in the picture"),
    "callbacks.evaluation.n_samples": whole(2, meaning="generated samples per evaluation"),
    "callbacks.evaluation.metrics": mapping("the evaluators (metrics.evaluators)"),
    "callbacks.evaluation.metrics.**": anything(),
    "callbacks.evaluation.inception": flag(),
    "callbacks.evaluation.inception_weights": text(optional=True),
    "callbacks.progress.refresh_rate": whole(1, meaning="generator steps between bar updates"),
    "callbacks.progress.lines": flag("log lines instead of a bar; null = by stdout", optional=True),
    "callbacks.*.monitor": text("the eval/ metric it watches"),
    "callbacks.*.mode": text("whether lower or higher is better", ("min", "max")),
    "callbacks.*.save_top_k": whole(-1, meaning="checkpoints kept; -1 = all"),
    "callbacks.*.filename": text(),
    "callbacks.*.auto_insert_metric_name": flag(),
    "callbacks.*.patience": whole(0, meaning="evaluations without improvement"),
    "callbacks.*.min_delta": number(0),
}


# What each training setting is to a run. The types above follow the leaf key (every lr is a
# positive number); a role follows the subtree (everything under model shapes the networks), so
# it is its own table, matched the same way. From it come the resume rule (STATE and SEED keys
# cannot change: ``resume``), the settings that tell runs apart (``train.run_summary``: metrics.json
# and TensorBoard's HParams tab) and those comparison groups runs by (``report.comparison``). A
# test classifies every key of every composition, so a new setting cannot go without a role.
class Role(str, Enum):
    STATE = "state"  # shapes the saved networks, optimizer states or data stream: fixed on resume
    SEED = "seed"  # the replicate: fixed on resume; runs differing only in it are one config
    RUN = "run"  # what the run does or reports: may change on resume
    HOW = "how"  # where and how it runs, writes and shows: changes nothing it computes


STATE, RUN, HOW = Role.STATE, Role.RUN, Role.HOW
CONFIGURATION = (Role.STATE, Role.SEED, Role.RUN)  # what the run summary records

ROLES: dict[str, Role] = {
    "hydra.**": HOW,
    "task_name": HOW,
    "tags": HOW,
    "paths.**": HOW,
    "ckpt_path": HOW,
    "optimized_metric": HOW,
    "log_every_n_steps": HOW,
    "compile": HOW,
    "channels_last": HOW,
    "threads": HOW,
    "flush_denormal": HOW,
    "seed": Role.SEED,
    "steps": RUN,
    "d_steps": RUN,
    "g_steps": RUN,
    "loss.**": RUN,
    "update_scheme.**": RUN,
    "regularizer": RUN,
    "regularizer.**": RUN,
    "clip_grad_norm.**": RUN,
    "target": RUN,
    "target.**": RUN,
    "metrics.**": RUN,
    "metrics.inception_weights": HOW,
    "callbacks.evaluation.inception_weights": HOW,
    "model.**": STATE,
    "optimizer.**": STATE,
    "optimizer.search.**": HOW,  # the study's search space: not used by the run
    "scheduler.**": STATE,
    "ema.**": STATE,
    "data.**": STATE,
    "data.**.seed": Role.SEED,
    "data.**.root": HOW,
    "data.**.num_workers": HOW,
    "data.**.verify": HOW,
    "data.**.download": HOW,
    "data.**.pin_memory": HOW,
    "trainer.**": HOW,
    "trainer.precision": RUN,
    "logger": HOW,
    "logger.**": HOW,
    "callbacks": HOW,
    "callbacks.**": HOW,
    "callbacks.evaluation.**": RUN,
    "callbacks.evaluation.metrics.**": HOW,  # a copy of metrics.evaluators
    "callbacks.evaluation.dirpath": HOW,
}


def role(key: str) -> Role | None:
    """What a training setting is to a run (None: a key no pattern classifies, e.g. ``+key=``)."""
    return most_specific(ROLES, key)


STUDY: Table = {
    **COMMON,
    "phases": listing(anything(), meaning="1, 2 and untuned; [] = only the report"),
    "workers": whole(1, meaning="trials at a time, one process each"),
    "storage": text("the journal file or an Optuna storage URL"),
    "report_dir": text("where the report goes"),
    "runs_dir": text("where the trials' run directories go"),
    "study.name": text("the study's name"),
    "study.base": listing(text(), meaning="the train.py overrides every trial shares"),
    "study.optimizers": listing(text(), meaning="optimizer presets (conf/optimizer)"),
    "study.objective": mapping("{metric: weight}, maximised"),
    "study.objective.*": number(meaning="a metric's weight"),
    "study.target": mapping("the workload's target {metric: '>= x'}"),
    "study.target.*": text("a rule, '>= <number>' or '<= <number>'"),
    "study.untuned_only": listing(text(), meaning="optimizers left out of phases 1 and 2"),
    "study.trials": whole(1, meaning="phase-1 trials per optimizer"),
    "study.seeds": whole(1, meaning="phase-2 and untuned seeds per optimizer"),
    "study.sampler": text("tpe: Optuna's TPE; qmc: quasi-random, scrambled Sobol", ("tpe", "qmc")),
    "study.startup_trials": whole(0, meaning="random trials before TPE models the space"),
    "study.stale_after_s": positive("seconds after which another host's trial counts as dead"),
    "study.hand_loop_steps_per_s": positive("the hand loop's rate", optional=True),
    "study.space": mapping("changes to the optimizers' search spaces"),
    "study.space.*.low": number(),
    "study.space.*.high": number(),
    "study.space.*.log": flag(),
    "study.space.*.choices": listing(),
    "study.space.*.optimizers": listing(text(), meaning="the optimizers the change is for"),
    "study.pruning.enabled": flag("median pruning of phase-1 trials"),
    "study.pruning.startup_trials": whole(0, meaning="trials per optimizer before pruning"),
    "study.pruning.warmup_steps": whole(0, meaning="generator steps before a trial is pruned"),
}

GAMES: Table = {
    **COMMON,
    **OPTIMIZER,
    **UPDATES,
    **{key.replace("optimizer.", "methods.*.", 1): s for key, s in OPTIMIZER.items()},
    "methods": mapping("the methods compared (conf/methods)"),
    "methods.*.label": text("the method's name in figures"),
    "methods.*.update_scheme.d_steps": whole(1, meaning="discriminator updates per step"),
    "methods.*.update_scheme.g_steps": whole(1, meaning="generator updates per step"),
    "steps": whole(1, meaning="updates of each player"),
    "start": listing(number(), length=(2,), meaning="(x0, y0): the games' starting point"),
    "game.x0": number(meaning="x's start"),
    "game.y0": number(meaning="y's start"),
    "game.quadratic": number(meaning="the bilinear game's quadratic term"),
    "game.regularizers": mapping("the discriminator's regularizers"),
    **{key.replace("regularizer.", "game.regularizers.", 1): s for key, s in UPDATES.items()},
    "verdict.converge_ratio": positive("final/start distance below which a method converges"),
    "verdict.diverge_ratio": positive("final/start distance above which it diverges"),
    "stability.lrs": listing(positive(), meaning="the learning rates of the stability sweep"),
    "plot_extent": positive("trajectories.png shows [-extent, extent]²"),
    "spectrum.ckpt_paths": listing(text(), meaning="trained checkpoints"),
    "spectrum.labels": listing(text(), meaning="one per checkpoint"),
    "spectrum.k": whole(1, meaning="eigenvalues by magnitude, and as many by real part"),
    "spectrum.batch_size": whole(2, meaning="the fixed batch of the vector field"),
    "spectrum.seed": SEED,
}

CHECKPOINT_SCRIPT: Table = {
    **COMMON,
    "ckpt_path": text("the last.ckpt of a training run"),
    "seed": whole(0, 2**32 - 1, "the latent seed", optional=True),
    "out": text("the output path", optional=True),
    "ema": flag("true: the EMA generator; null: when trained with it", optional=True),
    "device": text("auto, cpu, cuda or cuda:<index>"),
}

GENERATE: Table = {
    **CHECKPOINT_SCRIPT,
    "seed": SEED,
    "n": whole(1, meaning="samples in the grid"),
    "npz": flag("also write the raw samples and latents"),
    "interpolate": whole(0, meaning="frames per row of a latent interpolation; 0 = none"),
    "rows": whole(1, meaning="rows of the interpolation strip"),
    # ganopt.sampling.INTERPOLATIONS implements them (tested); named here so that checking a
    # command line imports no torch
    "interpolation": text("the interpolation path", ("slerp", "lerp")),
}

EVAL: Table = {
    **CHECKPOINT_SCRIPT,
    "n_samples": whole(2, meaning="generated samples; null = the run's", optional=True),
    "inception": flag("add Inception eval/fid and eval/kid", optional=True),
    "inception_weights": text("local Inception weights", optional=True),
    "batch_size": whole(1, meaning="samples per forward pass", optional=True),
    "data_root": text("the data set's folder", optional=True),
}

LEADERBOARD: Table = {
    **COMMON,
    "workloads": listing(text(), meaning="study configs (conf/study)"),
    "scored": listing(text(), meaning="the workloads score B counts", optional=True),
    "references": listing(text(), meaning="optimizers every other is compared against"),
    "out_dir": text("where the leaderboard goes"),
    "readme": text("the README whose leaderboard block is rewritten", optional=True),
}

TABLES: dict[str, Table] = {
    "train": TRAIN,
    "study": STUDY,
    "games": GAMES,
    "generate": GENERATE,
    "eval": EVAL,
    "leaderboard": LEADERBOARD,
}
