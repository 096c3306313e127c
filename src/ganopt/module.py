"""The GAN LightningModule: manual optimization, one configurable update scheme.

Everything is built by Hydra and handed in: networks, loss, optimizer and scheduler factories,
and the update scheme. The module only wires them together, counts generator steps (the unit
GAN papers report; Lightning's ``global_step`` counts every optimizer step) and logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from typing import Any

import lightning as L
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader, TensorDataset

from ganopt.data.base import InMemoryDataModule, examples
from ganopt.ema import EMA, standing_statistics
from ganopt.errors import RunDiverged
from ganopt.losses import AdversarialLoss
from ganopt.models import latent_dim
from ganopt.optim.modes import eval_mode, train_mode, with_modes
from ganopt.regularizers import Regularizer, as_named
from ganopt.updates import Alternating, Player, Turn, UpdateScheme

# The hooks Lightning's backward and optimizer step call: a listener keeps them (see players).
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
# What raise_if_diverged watches, in the order of its flags; and the config key of each network.
WATCHED = ("loss/d", "loss/g", "the weights of D", "the weights of G")
NETWORK = {"d": "discriminator", "g": "generator"}

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]


@contextmanager
def frozen(parameters: list[nn.Parameter]) -> Iterator[None]:
    """No gradient for ``parameters`` inside (the other network's, during one network's update),
    as a hand-written loop toggles them; what Lightning's ``toggle_optimizer`` does, without its
    per-call bookkeeping of every parameter's state."""
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in parameters:
            parameter.requires_grad_(True)


def as_float64(values: dict[str, float]) -> dict[str, Tensor]:
    """Values for ``self.log``, which makes float32 tensors of Python floats (an lr of 2e-4
    would read 0.000199999995 in metrics.json); CPU tensors, already synced."""
    return {key: torch.tensor(value, dtype=torch.float64) for key, value in values.items()}


class GAN(L.LightningModule):
    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: AdversarialLoss,
        optimizer: dict[str, OptimizerFactory],
        scheduler: dict[str, SchedulerFactory | None] | None = None,
        update_scheme: UpdateScheme | None = None,
        clip_grad_norm: dict[str, float | None] | None = None,
        steps: int = 1000,
        config: dict[str, Any] | None = None,
        regularizers: dict[str, Regularizer] | list[Regularizer] | None = None,
        ema: EMA | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.discriminator, self.loss = generator, discriminator, loss
        self.latent_dim = latent_dim(generator)  # checked once here, not in every noise() call
        self.optimizer_factories = optimizer
        self.scheduler_factories = scheduler or {}
        self.update_scheme = update_scheme or Alternating()
        self.clip_grad_norm = clip_grad_norm or {}
        self.steps = steps
        self.config = config  # the resolved run config, stored in checkpoints for scripts
        self.overrides: list[str] = []  # its command-line overrides: a resume recomposes them
        self.regularizers = as_named(regularizers)  # {name: penalty and/or D-step hook}
        self.penalties: dict[str, Tensor] = {}  # each regularizer's last applied value
        self.ema = ema  # averaged generator: what sample() uses when set
        self.channels_last = channels_last  # conv networks and image batches in NHWC layout
        self.generator_steps = 0  # generator updates done: the training length unit
        self.iterations = 0  # batches trained on: where the data stream resumes
        self.interrupted = False  # set by GracefulStop: the run ends early, on a signal
        # The sums of loss/d and loss/g since the last check, on the device: a NaN or inf in
        # any step's loss stays in its sum, so watching for divergence costs two in-place adds
        # per step and no sync; read by raise_if_diverged().
        self._loss_sums = torch.zeros(2)  # on the device from on_train_start
        self._sum_d, self._sum_g = self._loss_sums
        self._checked_step = 0
        self._evaluating = ExitStack()  # open while Lightning's validation loop runs
        self._averaged = False  # schedule-free optimizers hold their averaged weights now
        self.schedule_free: dict[str, Optimizer] = {}  # schedule-free optimizers, by network
        # Set at train start (see players): what every step reuses, and the batch it reads.
        self._players: tuple[Player, Player] = ()  # type: ignore[assignment]
        self._schedulers: list[Any] = []
        self._real, self._log_batch, self._device_type = torch.empty(0), False, "cpu"
        self._scaler: torch.amp.GradScaler | None = None

    # ---- sampling -------------------------------------------------------------------------
    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Latent codes; a CPU ``generator`` gives the same codes on every device (evaluation)."""
        if generator is None:
            return torch.randn(n, self.latent_dim, device=self.device)
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Samples for evaluation and pictures: from the EMA generator when there is one, in
        eval mode (BatchNorm uses its running statistics and is left untouched)."""
        network = self.ema if self.ema is not None else self.generator
        was_training = network.training
        network.eval()
        try:
            return network(self.noise(n, generator))
        finally:
            network.train(was_training)

    # ---- the training step ------------------------------------------------------------------
    def training_step(self, batch: Any) -> None:
        real = examples(batch)  # a tensor, an (x, y) tuple or a dict: any DataLoader's batch
        if self.channels_last:  # NHWC images for NHWC conv networks
            real = real.contiguous(memory_format=torch.channels_last)
        self._real = real  # what the players' losses read
        self._log_batch = self._is_log_batch()  # the batches Lightning sends to the loggers
        d, g = self.update_scheme(*self._players)
        self._watch_finite(d.loss, g.loss)
        self.iterations += 1
        if g.updates:  # under 16-mixed, a G step skipped for inf gradients is not a generator step
            for scheduler in self._schedulers:
                scheduler.step()
            self.generator_steps += g.updates
            if self.ema is not None:
                with self.averaged_weights("g", statistics=False):
                    self.ema.update(self.generator, self.generator_steps)
        if self._log_batch:
            self.log_training_state(d, g)
        if self.generator_steps >= self.steps:
            self.trainer.should_stop = True

    def d_loss(self, real: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():
            fake = self.generator(self.noise(len(real)))
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)
        loss = self.loss.discriminator(real_logits, fake_logits)
        for name, regularizer in self.regularizers.items():
            penalty = regularizer(self.discriminator, real, fake, step=self.generator_steps)
            if penalty is not None:  # None: no penalty, or a lazy one's off step
                self.penalties[name] = penalty.detach()
                loss = loss + penalty
        if not self._log_batch:  # the statistics are logged only on log batches
            return loss, {}
        stats = {"d/real": real_logits.detach().mean(), "d/fake": fake_logits.detach().mean()}
        # the last value applied: a lazy R1 (every 16) is logged whatever the log cadence
        stats.update({f"reg/{name}": value for name, value in self.penalties.items()})
        return loss, stats

    def g_loss(self, n: int) -> Tensor:
        return self.loss.generator(self.discriminator(self.generator(self.noise(n))))

    def players(self) -> tuple[Player, Player]:
        """D's and G's side of every step, built once at train start. Backward and the optimizer
        step go through Lightning (``manual_backward``, its ``LightningOptimizer``) only where
        that adds something (``through_lightning``); otherwise they are the plain torch calls a
        hand-written loop makes, and Lightning's count of optimizer steps is kept by hand."""
        lightning = self.through_lightning()
        optimizers: Any = self.optimizers(use_pl_optimizer=lightning)
        opt_g, opt_d = optimizers
        d = self.player(opt_d, "d", lambda: self.d_loss(self._real), lightning)
        return d, self.player(opt_g, "g", lambda: self.g_loss(len(self._real)), lightning)

    def player(self, optimizer: Any, net: str, loss: Callable, lightning: bool) -> Player:
        """A network's side of the step: its loss, backward (with clipping), the other network
        frozen while it computes its gradients, and its optimizer's step."""
        other = self.discriminator if net == "g" else self.generator
        trainable = [p for p in other.parameters() if p.requires_grad]

        def backward(loss: Tensor) -> dict[str, Tensor]:
            if lightning:
                self.manual_backward(loss)
            else:
                loss.backward()
            return self.clip_gradients_of(optimizer, net, self._log_batch)

        # Only generator updates are counted (the training length): only they pay the host
        # sync of asking the GradScaler whether the step was taken.
        step = self.step_taken if net == "g" else self.step_optimizer
        return Player(optimizer, loss, backward, lambda: frozen(trainable), step)

    def through_lightning(self) -> bool:
        """Whether Lightning's backward and step add something to this run: 16-mixed's
        GradScaler (loss scaling, unscaling, skipped steps), a strategy other than one device
        (DDP's gradient sync, sharded optimizers), a precision plugin other than 32-bit or
        bf16 autocast, a profiler, or a callback or hook on backward or the optimizer step."""
        trainer = self.trainer
        listening = any(is_overridden(hook, self, L.LightningModule) for hook in STEP_HOOKS) or any(
            is_overridden(hook, callback, L.Callback)
            for hook in STEP_HOOKS
            for callback in trainer.callbacks  # type: ignore[attr-defined]
        )
        return (
            listening
            or type(trainer.strategy) is not SingleDeviceStrategy
            or type(trainer.precision_plugin) not in (Precision, MixedPrecision)
            or self._grad_scaler() is not None
            or not isinstance(trainer.profiler, PassThroughProfiler)  # type: ignore[attr-defined]
        )

    def clip_gradients_of(self, optimizer: Any, net: str, measure: bool) -> dict[str, Tensor]:
        """Clip to ``clip_grad_norm.<network>`` and, when ``measure``, report the norm before
        clipping. Under 16-mixed the gradients are still multiplied by the GradScaler's scale
        here (Lightning unscales inside ``optimizer.step()``; its ``clip_gradients`` does not
        unscale, Lightning issue 18089): clipping them at max_norm × scale is clipping the true
        gradients at max_norm, and inf gradients stay non-finite, so the scaler still skips."""
        max_norm = self.clip_grad_norm.get(NETWORK[net])
        if max_norm is None and not measure:
            return {}
        scale = scaler.get_scale() if (scaler := self._scaler) is not None else 1.0
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if max_norm is None:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        else:
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm * scale)
        return {f"grad_norm/{net}": norm / scale}

    def step_optimizer(self, optimizer: Any) -> bool:
        """Step outside autocast: the training step runs under the precision plugin's autocast,
        and an optimizer's own matrix products (SOAP's eigenbases, Muon's bfloat16
        Newton-Schulz) must not be recast to fp16/bf16 by it. A plain torch optimizer (see
        ``players``) also advances Lightning's count of optimizer steps, ``trainer.global_step``,
        as its wrapper would: ModelCheckpoint and the loops read it."""
        autocast = torch.is_autocast_enabled(self._device_type)
        with torch.autocast(self._device_type, enabled=False) if autocast else nullcontext():
            if isinstance(optimizer, LightningOptimizer):
                optimizer.step()
            else:
                self._step_progress.increment_ready()
                optimizer.step()
                self._step_progress.increment_completed()
        return True

    def step_taken(self, optimizer: Any) -> bool:
        """Step ``optimizer``; False if the GradScaler skipped the step for inf/NaN gradients
        (it lowers its scale exactly then, and only then)."""
        if (scaler := self._scaler) is None:
            return self.step_optimizer(optimizer)
        scale = scaler.get_scale()
        self.step_optimizer(optimizer)
        return scaler.get_scale() >= scale

    def on_train_start(self) -> None:
        train_mode(self.schedule_free.values())  # checkpoints are saved in eval mode
        self._device_type, self._scaler = self.device.type, self._grad_scaler()
        self._step_progress = (
            self.trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        )
        self._schedulers = self.lr_schedulers()
        self._players = self.players()
        self._loss_sums = torch.zeros(2, device=self.device)
        self._sum_d, self._sum_g = self._loss_sums  # views: each step adds in place
        self._checked_step = self.generator_steps
        # DDP: every rank was seeded alike (and a resumed run gives every rank rank 0's RNG
        # state). Fork the stream per rank from a draw that is the same on every rank, so each
        # rank draws its own latent codes as it has its own real batches.
        if self.trainer.world_size > 1:
            shared = int(torch.randint(2**62, (1,)))
            torch.manual_seed(shared + self.global_rank)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> int | None:
        if self.generator_steps >= self.steps:  # e.g. resumed with steps <= the checkpoint's
            self.trainer.should_stop = True
            return -1  # Lightning: skip the rest of the epoch
        return None

    # ---- schedule-free optimizers train at one point and are evaluated at another -------------
    @contextmanager
    def averaged_weights(self, networks: str = "gd", statistics: bool = True) -> Iterator[None]:
        """Evaluate, sample and save at the point schedule-free optimizers evaluate at: their
        ``eval()`` puts the averaged weights x in the networks, ``train()`` the training point y
        back (Lightning switches neither, issue 20441). With ``statistics`` the generator's
        BatchNorm statistics are re-estimated for x (standing statistics: a pure function of
        the weights, so a resumed run stays exact). Nothing happens for other optimizers."""
        mine = [optimizer for n, optimizer in self.schedule_free.items() if n in networks]
        if self._averaged or not mine:
            yield
            return
        self._averaged = True
        try:
            with eval_mode(mine):
                if statistics:
                    standing_statistics(self.generator, self.latent_dim)
                yield
        finally:
            self._averaged = False

    def on_validation_start(self) -> None:  # before any callback scores or saves
        self._evaluating.enter_context(self.averaged_weights())

    def on_validation_end(self) -> None:  # after ModelCheckpoint and EarlyStopping
        self._evaluating.close()

    # ---- divergence: NaN/Inf in a loss or in the weights ---------------------------------------
    def _watch_finite(self, d_loss: Tensor, g_loss: Tensor) -> None:
        self._sum_d.add_(d_loss)  # the turns' losses are detached
        self._sum_g.add_(g_loss)

    def raise_if_diverged(self) -> None:
        """Raise RunDiverged if a loss was NaN/Inf since the last check or a network's weights
        are now. One device sync: called on log steps and before every checkpoint, evaluation
        and sample grid, so nothing non-finite is ever saved or reported."""
        weights = [
            torch.nn.utils.get_total_norm(list(network.parameters())).to(self.device)
            for network in (self.discriminator, self.generator)
        ]
        flags = (~torch.isfinite(torch.cat([self._loss_sums, torch.stack(weights)]))).tolist()
        bad = [name for name, flag in zip(WATCHED, flags, strict=True) if flag]
        if self.trainer.world_size > 1:  # every rank must stop together
            if not self.trainer.strategy.reduce_boolean_decision(bool(bad), all=False):
                bad = []
            elif not bad:
                bad = ["the losses of another DDP rank"]
        if not bad:
            self._checked_step = self.generator_steps
            return
        nets = sorted({name[-1].lower() for name in bad} & {"d", "g"} or {"d", "g"})
        optimizers = dict(zip("gd", self.optimizers(), strict=True))
        lower = " ".join(
            f"optimizer.{NETWORK[n]}.lr={optimizers[n].param_groups[0]['lr'] / 10:.3g}"
            for n in nets
        )
        clip = " ".join(f"clip_grad_norm.{NETWORK[n]}=1.0" for n in nets)
        raise RunDiverged(
            f"NaN or infinite values between generator steps {self._checked_step} and "
            f"{self.generator_steps}, in {', '.join(bad[:-1]) + ' and ' if bad[:-1] else ''}"
            f"{bad[-1]}. Usually the learning rate is too high for this optimizer (try it 10x "
            f"lower: {lower}); gradient clipping ({clip}) or a discriminator regularizer "
            f"(regularizer=[r1]) also help.",
            step=self._checked_step,
        )

    # ---- optimizers and logging --------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        opt_g = self.optimizer_factories["generator"](self.generator.parameters())
        opt_d = self.optimizer_factories["discriminator"](self.discriminator.parameters())
        for regularizer in self.regularizers.values():  # e.g. weight clipping after each D step
            regularizer.attach(opt_d, self.discriminator)
        # found once here, not on every EMA update of the training step
        pairs = zip("gd", (opt_g, opt_d), strict=True)
        self.schedule_free = {net: opt for net, opt in pairs if with_modes([opt])}
        schedulers = [
            factory(opt)
            for name, opt in (("generator", opt_g), ("discriminator", opt_d))
            if (factory := self.scheduler_factories.get(name)) is not None
        ]
        return [opt_g, opt_d], schedulers

    def lr_schedulers(self) -> list[Any]:  # Lightning returns None, one object or a list
        schedulers = super().lr_schedulers()
        if schedulers is None:
            return []
        return schedulers if isinstance(schedulers, list) else [schedulers]

    def _is_log_batch(self) -> bool:
        """Whether Lightning sends this batch's logged values to the loggers: every
        ``trainer.log_every_n_steps`` batches (``callbacks.schedule`` sets it from
        ``log_every_n_steps``, in generator steps) and the last one. Logging only then means no
        value is ever re-sent."""
        last = self.generator_steps + self.update_scheme.g_steps >= self.steps
        every = self.trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by Lightning
        return (self.iterations + 1) % every == 0 or last

    def _grad_scaler(self) -> torch.amp.GradScaler | None:
        """The AMP GradScaler that both optimizers share under 16-mixed precision, else None."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        return scaler if scaler is not None and scaler.is_enabled() else None

    def log_training_state(self, d: Turn, g: Turn) -> None:
        """Log the training scalars with one device sync; ``step`` (the generator step) is what
        Lightning uses as the loggers' x axis."""
        self.raise_if_diverged()
        tensors = {"loss/d": d.loss, "loss/g": g.loss, **d.stats, **g.stats}
        values = torch.stack([t.detach().float() for t in tensors.values()])
        if self.trainer.world_size > 1:
            values = self.trainer.strategy.reduce(values, reduce_op="mean")
        metrics = dict(zip(tensors, values.tolist(), strict=True))
        opt_g, opt_d = self.optimizers()  # type: ignore[attr-defined]  # a list of two
        metrics.update({"lr/g": opt_g.param_groups[0]["lr"], "lr/d": opt_d.param_groups[0]["lr"]})
        losses = {key: metrics.pop(key) for key in ("loss/d", "loss/g")}
        self.log_dict(as_float64(losses), prog_bar=True)
        self.log_dict(as_float64({**metrics, "step": self.generator_steps}))

    # ---- evaluation: Lightning's validation loop, at the Evaluation callback's cadence --------
    def val_dataloader(self) -> DataLoader:
        """One placeholder batch per evaluation (a GAN has no validation data to iterate). The
        loop gives the Evaluation callback Lightning's cadence (``val_check_interval``, set in
        ``callbacks.schedule``) and the hook, ``on_validation_end``, where ModelCheckpoint,
        EarlyStopping and pruning read ``eval/*``. Its own RNG: iterating it never draws from
        training's."""
        return DataLoader(TensorDataset(torch.zeros(1)), generator=torch.Generator())

    def validation_step(self, batch: Any) -> None:
        self.raise_if_diverged()  # nothing non-finite is scored (or saved as the best)

    # ---- checkpoints: counters and RNG, so a resumed run continues exactly --------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganopt"] = {
            "generator_steps": self.generator_steps,
            "iterations": self.iterations,
            "config": self.config,
            "overrides": self.overrides,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["ganopt"]
        self.generator_steps, self.iterations = state["generator_steps"], state["iterations"]
        datamodule = getattr(self.trainer, "datamodule", None)
        if (
            isinstance(datamodule, InMemoryDataModule)
            and type(datamodule).__qualname__ not in checkpoint
        ):
            datamodule.position = self.iterations  # a checkpoint from before datamodule state
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
