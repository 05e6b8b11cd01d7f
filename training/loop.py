"""The training loop: class-balanced sampling, DiffAugment, TTUR, R1/GP, generator EMA, style mixing,
checkpoints and resume.

Every random draw comes from two seeded generators (numpy for the data, torch for everything else) whose
states are saved in each checkpoint, so a resumed run gives the same weights as an uninterrupted one on the
CPU.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from medsynth._primitives import from_uint8, to_uint8
from medsynth._version import __version__
from medsynth.errors import ArgumentError, DataError, DivergenceError, ModelError
from medsynth.imageset import RESIZE_POLICY, ImageSet
from medsynth.model_card import read_card
from medsynth.registry import REGISTRY
from medsynth.training.augment import diff_augment, parse_policy
from medsynth.training.checkpoint import (
    Checkpoint,
    CheckpointMeta,
    check_resumable,
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    restore_optimizer,
    save_checkpoint,
)
from medsynth.training.class_mmd import ClassFeatureMMD, fit_class_mmd
from medsynth.training.class_probe import ClassProbe, FeatureDiscriminator, fit_class_probe
from medsynth.training.config import TrainConfig
from medsynth.training.distributed import SINGLE, World
from medsynth.training.ema import EMA
from medsynth.training.exported_weights import card_config, exported_state
from medsynth.training.flips import TRANSFORMS, flip
from medsynth.training.losses import d_loss, g_loss, gradient_penalty, r1_penalty
from medsynth.training.nets import get_arch
from medsynth.training.nets.factory import build_networks
from medsynth.training.nets.layers import recompute_batchnorm_stats
from medsynth.training.plots import save_curves, save_gif, save_grid
from medsynth.training.specks import speck_loss, speck_threshold
from medsynth.training.spectral import log_power_ratio, spectral_loss, spectral_peak_loss, spectral_target
from medsynth.training.validation import (
    PerceptualFeatures,
    frechet,
    pixel_features,
    radiomic_fd,
)

# the settings that shape the networks: a run starting from a checkpoint (generator and discriminator) or
# from an exported model (the generator alone) must give the same values
_GENERATOR_SHAPE = ("arch", "image_size", "latent_dim", "g_width", "max_width", "lstm")
_CHECKPOINT_SHAPE = (*_GENERATOR_SHAPE, "d_width")
VALIDATION_SAMPLES = 512  # generated images compared with the reference set each validation
R1_INTERVAL = 4  # lazy R1 (Karras et al. 2020): penalise every few D steps, scaled up to match


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    checkpoint: Path
    iterations: int
    epochs_done: float
    wall_time_s: float
    stopped_because: str


class Trainer:
    """Trains ``config`` on ``data`` into ``out_dir`` (checkpoints/, samples/, curves.png, progress.gif).

    Under torchrun, ``world`` is this process's rank (see :mod:`medsynth.training.distributed`): each rank
    trains on its rows of every global batch, and only rank 0 writes files and logs.
    """

    def __init__(
        self,
        config: TrainConfig,
        data: ImageSet,
        out_dir: Path,
        *,
        val: ImageSet | None = None,
        log: Callable[[str], None] = print,
        world: World | None = None,
    ) -> None:
        if data.images.shape[1] != config.image_size:
            raise DataError(
                f"data images are {data.images.shape[1]} px but the config asks for {config.image_size}"
            )
        self.world = world or SINGLE
        self.world.local_batch(config.batch_size)  # refuses a global batch that does not split
        self.config, self.data, self.val = config, data, val
        self.log = log if self.world.is_main else _silent
        self.out = Path(out_dir)
        self.channels = data.images.shape[-1]
        self.num_classes = len(data.classes)
        arch = get_arch(config.arch)
        self.loss_kind = config.loss or arch.default_loss
        self.mixing = config.style_mixing if arch.style_mixing else 0.0
        self.policy = parse_policy(config.diffaugment)
        self.device = torch.device(config.device)
        if self.world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        if config.threads > 0:
            torch.set_num_threads(config.threads)
        torch.manual_seed(config.seed)
        self.G, self.D = build_networks(config, self.num_classes, self.channels)
        self.G.to(self.device), self.D.to(self.device)
        self.world.prepare((self.G, self.D))
        self.ema = EMA(self.G, config.ema_decay, config.ema_start) if config.ema_decay > 0 else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
        trainable_d = [p for p in self.D.parameters() if p.requires_grad]  # not the frozen features
        self.opt_d = torch.optim.Adam(trainable_d, lr=config.lr_d, betas=(config.beta1, config.beta2))
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.np_rng = np.random.default_rng(config.seed + 2)
        self.iteration = 0
        self.history: list[dict[str, Any]] = []
        self.wall_time = 0.0
        self.iters_per_epoch = max(1, math.ceil(len(data.images) / config.batch_size))
        self._by_class = [np.flatnonzero(data.labels == c) for c in range(self.num_classes)]
        fixed = torch.Generator().manual_seed(config.seed + 3)
        k = config.samples_per_class
        self.fixed_z = torch.randn(self.num_classes * k, config.latent_dim, generator=fixed)
        self.fixed_y = torch.arange(self.num_classes).repeat_interleave(k)
        self._perceptual: PerceptualFeatures | None = None  # built at the first validation that needs it
        self._perceptual_ref = np.empty((0, 0))
        self.spectral = None
        if config.spectral_weight > 0 or config.spectral_peak_weight > 0:
            target = spectral_target(data.images, data.labels, self.num_classes, config.flips)
            self.spectral = target.to(self.device)
        self.speck_threshold = speck_threshold(data.images) if config.speck_weight > 0 else 0.0
        self.probe = self._fit_probe() if config.class_weight > 0 else None
        self.class_mmd = self._fit_class_mmd() if config.class_mmd_weight > 0 else None
        if config.init_from:
            self._init_from(config.init_from)

    # -- public ---------------------------------------------------------------------------------------------
    @property
    def sampler_net(self) -> torch.nn.Module:
        """The network samples come from: the EMA generator when there is one."""
        return self.ema.shadow if self.ema else self.G

    def _init_from(self, source: str) -> None:
        """Start from another run's checkpoint, or from an exported model (:meth:`_init_from_exported`): same
        networks and classes, this config's other settings.

        From a checkpoint the weights, optimiser moments and counters (iterations, wall time, history) carry
        over, so the run continues the earlier one and its totals are the model's; learning rates are this
        config's.
        """
        if source.endswith(".onnx") or source in REGISTRY:
            self._init_from_exported(source)
            return
        ckpt = load_checkpoint(source)
        self._check_same_networks(ckpt.path, ckpt.meta.config, ckpt.meta.classes, _CHECKPOINT_SHAPE)
        self._load_state(ckpt, ema_required=False)
        cfg = self.config
        for opt, lr in ((self.opt_g, cfg.lr_g), (self.opt_d, cfg.lr_d)):
            for group in opt.param_groups:
                group.update(lr=lr, betas=(cfg.beta1, cfg.beta2))
        self.log(f"starting from {ckpt.path} at iteration {self.iteration}")

    def _check_same_networks(
        self, source: object, saved: TrainConfig, classes: tuple[str, ...], shape: tuple[str, ...]
    ) -> None:
        diff = sorted(k for k in shape if getattr(saved, k) != getattr(self.config, k))
        if diff:
            raise ArgumentError(
                f"cannot start from {source}: its networks differ in {diff}; give the same values"
            )
        if tuple(classes) != tuple(self.data.classes):
            raise DataError(
                f"cannot start from {source}: it was trained on classes "
                f"{list(classes)}, the data has {list(self.data.classes)}"
            )

    def _init_from_exported(self, source: str) -> None:
        """Start the generator (and its EMA) from an exported model, a bundled name or an ``.onnx`` file.

        Only the generator is in the file: the discriminator, the optimisers and the counters start afresh.
        The file's weights are read back for the ``projected`` architecture (the folded BatchNorms of
        :mod:`~medsynth.training.exported_weights`); the others' exports fold their layers in ways that are
        not undone, and are refused with :class:`~medsynth.errors.ModelError`.
        """
        path = REGISTRY.path(REGISTRY.get(source)) if source in REGISTRY else Path(source)
        card = read_card(path)  # the card alone: no inference session is needed to read the weights
        self._check_same_networks(path, card_config(card), card.classes, _GENERATOR_SHAPE)
        loaded, missing = exported_state(self.G, path)
        if missing:
            raise ModelError(
                f"cannot start from {path}: it does not hold the generator tensors {missing[:4]}"
                f"{' ...' if len(missing) > 4 else ''}: the exporter's folded form is read back for the "
                f"projected architecture only; start from the run's checkpoint instead (--init-from RUN)"
            )
        self.G.load_state_dict(loaded, strict=False)  # every floating tensor (missing is empty)
        if self.ema:
            self.ema.shadow.load_state_dict(self.G.state_dict())
        self.log(f"starting the generator from {path} ({card.name}); the discriminator is new")

    def _fit_probe(self) -> ClassProbe:
        """The fixed class probe of the generator's class-guidance term (:mod:`.class_probe`), fitted under
        DiffAugment draws of its own seeded generator, so the training's random stream is untouched."""
        features = cast(FeatureDiscriminator, self.D).features
        probe, accuracy = fit_class_probe(
            features,
            self.data.images,
            self.data.labels,
            self.num_classes,
            self._seeded_augment(5),
            device=self.device,
        )
        self.log(
            f"class probe: balanced accuracy {accuracy:.3f} on the training images "
            f"(chance {1 / self.num_classes:.3f})"
        )
        return probe

    def _seeded_augment(self, offset: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The run's DiffAugment drawn from its own generator (seed + ``offset``), so that fitting a fixed
        term to the real images leaves the training's random stream untouched."""
        rng = torch.Generator().manual_seed(self.config.seed + offset)
        return (lambda t: diff_augment(t, self.policy, rng)) if self.policy else (lambda t: t)

    def _fit_class_mmd(self) -> ClassFeatureMMD:
        """The fixed real side of the per-class MMD term (:mod:`.class_mmd`), under DiffAugment draws of its
        own seeded generator, as the probe's."""
        features = cast(FeatureDiscriminator, self.D).features
        term = fit_class_mmd(
            features,
            self.data.images,
            self.data.labels,
            self.num_classes,
            self._seeded_augment(6),
            device=self.device,
        )
        self.log(f"class MMD: kernel width {float(term.widths[1]):.1f} (median squared feature distance)")
        return term

    def _load_state(self, ckpt: Checkpoint, *, ema_required: bool) -> None:
        """Networks, EMA, optimiser states and counters from ``ckpt`` (not the RNG states)."""
        self.G.load_state_dict(ckpt.state("G"))
        self.D.load_state_dict(ckpt.state("D"))
        if self.ema and (ema_required or any(k.startswith("G_ema.") for k in ckpt.tensors)):
            self.ema.shadow.load_state_dict(ckpt.state("G_ema"))
        restore_optimizer(self.opt_g, ckpt, "opt_g")
        restore_optimizer(self.opt_d, ckpt, "opt_d")
        self.iteration = ckpt.meta.iteration
        self.history = [dict(record) for record in ckpt.meta.history]
        self.wall_time = ckpt.meta.wall_time_s

    def resume(self, ckpt: Checkpoint | None = None) -> bool:
        """Continue from ``ckpt``, or else from the newest checkpoint in ``out_dir/checkpoints``; False when
        there is none.

        A ``ckpt`` given is one the caller read and checked with
        :func:`~medsynth.training.checkpoint.check_resumable` (the command line does, before reading any
        data); one found here is checked here.

        Raises
        ------
        ArgumentError
            The newest checkpoint cannot be continued under this config or number of processes.
        """
        if ckpt is None:
            found = list_checkpoints(self.out / "checkpoints")
            if not found:
                return False
            ckpt = load_checkpoint(found[-1])
            check_resumable(ckpt.meta, self.config, ckpt.path, self.world.size)
        self._load_state(ckpt, ema_required=True)
        self.rng.set_state(ckpt.tensors["rng.torch"])
        self.np_rng.bit_generator.state = dict(ckpt.meta.rng_numpy)
        self.log(f"resumed from {ckpt.path} at iteration {self.iteration}")
        return True

    def fit(self) -> RunResult:
        cfg = self.config
        total = self.iters_per_epoch * cfg.epochs
        if cfg.max_iterations:
            total = min(total, cfg.max_iterations)
        start_wall, start_iter = time.monotonic() - self.wall_time, self.iteration
        stop = "finished"
        sums = _Running()
        bar = _progress(total, self.iteration, disable=not self.world.is_main)
        ckpt_path = None
        while self.iteration < total:
            sums.add(self.world.mean(self._step()))
            self.iteration += 1
            bar.update(1)
            elapsed_min = (time.monotonic() - start_wall) / 60
            at_epoch_end = self.iteration % self.iters_per_epoch == 0
            out_of_time = bool(cfg.max_minutes) and self.world.from_main(elapsed_min >= cfg.max_minutes)
            if at_epoch_end or self.iteration == total or out_of_time:
                epoch = self.iteration / self.iters_per_epoch
                record = dict(
                    sums.mean(),
                    epoch=round(epoch, 4),
                    iteration=self.iteration,
                    wall_time_s=round(time.monotonic() - start_wall, 1),
                )
                sums = _Running()
                ep = int(round(epoch))
                if at_epoch_end and ep % cfg.sample_every == 0 or self.iteration == total or out_of_time:
                    with self.world.local_stats():  # rank 0 samples alone
                        main = self._sample_and_validate(ep) if self.world.is_main else None
                    shared = self.world.from_main(main)  # rank 0's record on every rank (None: never)
                    record.update(shared or {})
                self.history.append(record)
                bar.set_postfix(
                    d_real=f"{record['d_real']:.2f}",
                    d_fake=f"{record['d_fake']:.2f}",
                    **({"fd": f"{record['val_metric']:.4f}"} if "val_metric" in record else {}),
                )
                self.wall_time = time.monotonic() - start_wall
                last = self.iteration == total or out_of_time
                if (at_epoch_end and ep % cfg.checkpoint_every == 0) or last or self._plateau():
                    ckpt_path = self._save()
                if out_of_time:
                    stop = f"time limit of {cfg.max_minutes} min"
                    break
                if self._plateau():
                    stop = f"no improvement of the validation metric for {cfg.early_stop_patience} epochs"
                    break
        bar.close()
        if ckpt_path is None:
            ckpt_path = self._save()
        self.wall_time = time.monotonic() - start_wall
        if self.world.is_main:
            self._write_plots()
        self.world.barrier()
        self.log(
            f"{self.iteration - start_iter} iterations in {self.wall_time / 60:.1f} min; stopped: {stop}"
        )
        return RunResult(
            self.out, ckpt_path, self.iteration, self.iteration / self.iters_per_epoch, self.wall_time, stop
        )

    # -- one iteration --------------------------------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's rows of the next global batch (all of it in one process)."""
        cfg, n = self.config, self.config.batch_size
        if cfg.balanced:
            classes = self.np_rng.integers(0, self.num_classes, n)
            idx = np.array(
                [self._by_class[c][self.np_rng.integers(0, len(self._by_class[c]))] for c in classes]
            )
        else:
            idx = self.np_rng.integers(0, len(self.data.images), n)
        idx = self.world.take(idx)
        images = self.data.images[idx]
        if cfg.flips != "none":
            k = self.world.take(self.np_rng.integers(0, TRANSFORMS[cfg.flips], n))
            images = np.stack([flip(im, int(t), cfg.flips) for im, t in zip(images, k, strict=True)])
        x = torch.from_numpy(from_uint8(images)).permute(0, 3, 1, 2)
        y = torch.from_numpy(self.data.labels[idx])
        return x.to(self.device), y.to(self.device)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        if not self.policy:
            return x
        return self.world.spread(x, lambda t: diff_augment(t, self.policy, self.rng))

    def _noise(self, n: int) -> torch.Tensor:
        dim = self.config.latent_dim
        return self.world.draw(lambda m: torch.randn(m, dim, generator=self.rng), n).to(self.device)

    def _fake(self, y: torch.Tensor) -> torch.Tensor:
        """G's images for labels ``y``; with style mixing, a share ``mixing`` of them mix two latents."""
        z = self._noise(len(y))
        if not self.mixing:
            return self.G(z, y)
        num_ws = cast(int, self.G.num_ws)  # an int of a style-mixing generator (torch types it Module)
        z2 = self._noise(len(y))
        crossover = self.world.draw(lambda m: torch.randint(1, num_ws, (m,), generator=self.rng), len(y))
        mixed = self.world.draw(lambda m: torch.rand(m, generator=self.rng), len(y)) < self.mixing
        crossover = torch.where(mixed, crossover, torch.full_like(crossover, num_ws)).to(self.device)
        return self.G(z, y, z2, crossover)

    def _critic(self, y: torch.Tensor, *, augment: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
        """D's scores of images under labels ``y`` (after DiffAugment if ``augment``), for the penalties."""
        if augment:
            return lambda t: self.D(self._augment(t), y)
        return lambda t: self.D(t, y)

    def _step(self) -> dict[str, float]:
        cfg = self.config
        stats: dict[str, float] = {}
        for i in range(cfg.n_critic):
            real, y = self._batch()
            with torch.no_grad():
                fake = self._fake(y)
            s_real = self.D(self._augment(real), y)
            s_fake = self.D(self._augment(fake), y)
            loss = d_loss(self.loss_kind, s_real, s_fake)
            if self.loss_kind == "wasserstein":
                alpha = self.world.draw(lambda m: torch.rand(m, 1, 1, 1, generator=self.rng), len(real))
                gp = gradient_penalty(self._critic(y), real, fake, self.rng, alpha=alpha)
                loss = loss + cfg.gp_weight * gp
            if cfg.r1_gamma > 0 and (self.iteration * cfg.n_critic + i) % R1_INTERVAL == 0:
                r1 = r1_penalty(self._critic(y, augment=True), real)
                loss = loss + cfg.r1_gamma / 2 * R1_INTERVAL * r1
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.world.average_gradients(self.D.parameters())
            self.opt_d.step()
        stats.update(d_real=s_real.mean().item(), d_fake=s_fake.mean().item(), loss_d=loss.item())
        y = self.world.take(torch.randint(0, self.num_classes, (cfg.batch_size,), generator=self.rng))
        y = y.to(self.device)
        fake = self._fake(y)
        if self.probe is None and self.class_mmd is None:
            lg = g_loss(self.loss_kind, self.D(self._augment(fake), y))
        else:  # the class terms read the features D computes anyway
            d = cast(FeatureDiscriminator, self.D)
            feats = d.features(self._augment(fake))
            lg = g_loss(self.loss_kind, d.scores(feats, y))
            if self.probe is not None:
                class_ce = F.cross_entropy(self.probe(feats), y)
                stats["class_ce"] = class_ce.item()
                lg = lg + cfg.class_weight * class_ce
            if self.class_mmd is not None:
                class_mmd = self.class_mmd(feats, y)
                stats["class_mmd"] = class_mmd.item()
                lg = lg + cfg.class_mmd_weight * class_mmd
        if self.spectral is not None:
            ratio = log_power_ratio(fake, self.spectral)
            if cfg.spectral_weight > 0:
                spectral = spectral_loss(ratio)
                stats["spectral"] = spectral.item()
                lg = lg + cfg.spectral_weight * spectral
            if cfg.spectral_peak_weight > 0:
                peak = spectral_peak_loss(ratio)
                stats["spectral_peak"] = peak.item()
                lg = lg + cfg.spectral_peak_weight * peak
        if cfg.speck_weight > 0:
            specks = speck_loss(fake, self.speck_threshold)
            stats["specks"] = specks.item()
            lg = lg + cfg.speck_weight * specks
        self.opt_g.zero_grad(set_to_none=True)
        lg.backward()
        self.world.average_gradients(self.G.parameters())
        self.opt_g.step()
        if self.ema:
            self.ema.update(self.G, self.iteration)
        stats["loss_g"] = lg.item()
        if not all(math.isfinite(v) for v in stats.values()):
            raise DivergenceError(
                f"non-finite loss at iteration {self.iteration}: {stats}; "
                "lower the learning rates or use --loss hinge"
            )
        return stats

    # -- outputs --------------------------------------------------------------------------------------------
    def sample(self, z: torch.Tensor, y: torch.Tensor, *, refresh_stats: bool = True) -> np.ndarray:
        """uint8 (N, H, W, C) images from the sampling network, with standing batch-norm statistics."""
        net = self.sampler_net
        if refresh_stats:
            recompute_batchnorm_stats(net, self.num_classes, self.config.latent_dim, seed=self.config.seed)
        net.eval()
        with torch.no_grad():
            out = torch.cat(
                [
                    net(z[i : i + 256].to(self.device), y[i : i + 256].to(self.device)).cpu()
                    for i in range(0, len(y), 256)
                ]
            )
        self.G.train()
        return np.ascontiguousarray(to_uint8(out.numpy()).transpose(0, 2, 3, 1))

    def _sample_and_validate(self, epoch: int) -> dict[str, float]:
        grid = self.sample(self.fixed_z, self.fixed_y)
        save_grid(grid, self.num_classes, self.out / "samples" / f"epoch-{epoch:04d}.png")
        ref = self.val if self.val is not None else self.data
        n = VALIDATION_SAMPLES
        g = torch.Generator().manual_seed(self.config.seed + 4)
        # labels in the reference set's class proportions, whatever its order (class folders are sorted)
        spread = np.round(np.linspace(0, len(ref.labels) - 1, n)).astype(np.int64)
        y = torch.from_numpy(np.sort(ref.labels)[spread])
        fake = self.sample(torch.randn(n, self.config.latent_dim, generator=g), y, refresh_stats=False)
        scores = {
            "val_fd_pixel": frechet(pixel_features(ref.images), pixel_features(fake)),
            "val_fd_radiomic": radiomic_fd(ref.images, fake),
        }
        if self.config.val_features == "efficientnet-lite0":
            if self._perceptual is None:
                self._perceptual = PerceptualFeatures(self.config.device)
                self._perceptual_ref = self._perceptual(ref.images)
            scores["val_fd_perceptual"] = frechet(self._perceptual_ref, self._perceptual(fake))
            return {**scores, "val_metric": scores["val_fd_perceptual"]}
        return {**scores, "val_metric": scores["val_fd_pixel"]}

    def _plateau(self) -> bool:
        patience = self.config.early_stop_patience
        scores = [(h["epoch"], h["val_metric"]) for h in self.history if "val_metric" in h]
        if not patience or len(scores) < 2:
            return False
        best_epoch = min(scores, key=lambda s: s[1])[0]
        return scores[-1][0] - best_epoch >= patience

    def _save(self) -> Path:
        if not self.world.is_main:
            return self.out / "checkpoints" / checkpoint_name(self.iteration)
        modules: dict[str, torch.nn.Module] = {"G": self.G, "D": self.D}
        if self.ema:
            modules["G_ema"] = self.ema.shadow
        meta = CheckpointMeta(
            config=self.config,
            classes=tuple(self.data.classes),
            channels=self.channels,
            iteration=self.iteration,
            loss=self.loss_kind,
            images_per_class=self.data.counts(),
            dataset=self.data.name,
            dataset_license=self.data.license,
            modality=self.data.modality,
            resize_policy=RESIZE_POLICY,
            train_manifest_sha256=self.data.manifest_sha256(),
            skipped_images=len(self.data.skipped),
            history=tuple(self.history),
            rng_numpy=self.np_rng.bit_generator.state,
            wall_time_s=round(self.wall_time, 1),
            epochs_done=round(self.iteration / self.iters_per_epoch, 4),
            medsynth_version=__version__,
            torch_version=torch.__version__,
            device=str(self.device),
            world_size=self.world.size,
        )
        path = save_checkpoint(
            self.out / "checkpoints",
            modules,
            {"opt_g": self.opt_g, "opt_d": self.opt_d},
            self.rng,
            meta,
            keep=self.config.keep_checkpoints,
        )
        self._write_plots()
        return path

    def _write_plots(self) -> None:
        save_curves(self.history, self.out / "curves.png", title=f"{self.config.arch} on {self.data.name}")
        save_gif(sorted((self.out / "samples").glob("epoch-*.png")), self.out / "progress.gif")


class _Running:
    def __init__(self) -> None:
        self.total: dict[str, float] = {}
        self.n = 0

    def add(self, stats: dict[str, float]) -> None:
        for k, v in stats.items():
            self.total[k] = self.total.get(k, 0.0) + v
        self.n += 1

    def mean(self) -> dict[str, float]:
        return {k: v / max(self.n, 1) for k, v in self.total.items()}


def _silent(_: str) -> None:
    pass


def _progress(total: int, done: int, *, disable: bool = False) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        unit="it",
        desc="training",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=2.0,
        disable=disable,
    )
