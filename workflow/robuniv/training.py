"""(Adversarial) training with the Salman et al. recipe and evaluation.

SGD with momentum, learning rate divided by ``lr_gamma`` every ``lr_step`` epochs; with ``eps > 0`` each
batch is replaced by L2-PGD adversarial examples (``attack_steps`` steps of ``attack_step_factor * eps``,
highest-loss step kept) computed with the model in eval mode, as the robustness library does.
After every epoch a robustness-format checkpoint is written atomically; a rerun resumes from it.
Each epoch's randomness is seeded from (seed, epoch), so a resumed run equals an uninterrupted one.

``settings.precision == "bf16"`` runs the forward passes (training and PGD) under bf16 autocast
(:mod:`robuniv.precision`); fp32 is unchanged. Under torchrun (``settings.gpus > 1``, :mod:`robuniv.distributed`)
the model is wrapped in DistributedDataParallel, each rank trains on its share of every global batch, and
rank 0 writes the checkpoints. Images come through :mod:`robuniv.loading` (workers, pinned memory, uint8).
A progress line is logged at least every :data:`PROGRESS_INTERVAL_S` seconds within an epoch.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from . import distributed, loading
from .attacks import pgd
from .checkpoints import CheckpointError, read_checkpoint, save_robustness_checkpoint, MODEL_PREFIX
from .models import Classifier
from .precision import wrap as autocast_view
from .settings import EvaluationSettings, TrainSettings

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 60.0  # longest time between two progress lines within an epoch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _progress(iterable, desc: str, total: Optional[int] = None):
    from tqdm import tqdm

    # In a log file (no terminal) print rarely; in a terminal, a live bar.
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=None if sys.stderr.isatty() else True)


def adversarial_batch(model: Classifier, images, labels, eps: float, steps: int, step_size: float,
                      threat: str = "l2"):
    """PGD examples (L2 or L∞) with the model in eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        return pgd(model, images, labels, eps=eps, step_size=step_size, steps=steps, threat=threat, use_best=True)
    finally:
        model.train(was_training)


def run_fingerprint(settings: TrainSettings, identity: Optional[dict] = None) -> str:
    """Hash of everything that determines the weights: the training settings and ``identity``
    (architecture, width, data source and class list, ...)."""
    payload = json.dumps({"settings": settings.fingerprint(), "identity": identity or {}}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class ProgressLog:
    """Logs ``desc``: images done, mean loss, img/s, share of time waiting for data, ETA — at most every
    ``interval`` seconds (and never before the first batch is done)."""

    def __init__(self, desc: str, total: int, interval: float):
        self.desc, self.total, self.interval = desc, total, interval
        self.start = self.last = time.perf_counter()
        self.done, self.loss_sum, self.wait = 0, 0.0, 0.0

    def update(self, images: int, loss_sum: float, wait: float) -> None:
        self.done += images
        self.loss_sum += loss_sum
        self.wait += wait
        now = time.perf_counter()
        if now - self.last >= self.interval:
            self.last = now
            log.info("%s", self.line(now))

    def rate(self, now=None) -> float:
        return self.done / max((now or time.perf_counter()) - self.start, 1e-9)

    def line(self, now=None) -> str:
        now = now or time.perf_counter()
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return (f"{self.desc}: {self.done}/{self.total} images, loss {self.loss_sum / max(self.done, 1):.4f}, "
                f"{rate:.1f} img/s, data wait {100 * self.wait / elapsed:.0f}%, ETA {_duration(eta)}")


def _duration(seconds: float) -> str:
    if not np.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def train_model(model: Classifier, train_set: Dataset, settings: TrainSettings, *,
                checkpoint_path, resume_path=None, meta: Optional[dict] = None, identity: Optional[dict] = None,
                device: str | torch.device = "cpu") -> dict:
    """Train ``model`` in place and write the final checkpoint to ``checkpoint_path``.

    ``resume_path`` receives a checkpoint after every epoch; if it holds a checkpoint of the same run
    (same settings and ``identity``: model and data), training resumes after its epoch; any other resume
    file is ignored. It is removed once the final checkpoint is written. Returns a summary with the
    per-epoch history.

    In an initialised process group (torchrun, :mod:`robuniv.distributed`) every rank calls this with the
    same arguments: DDP with the same global batch; rank 0 writes the checkpoints.
    """
    ctx = distributed.current()
    device = distributed.device_of(device, ctx)
    model.to(device)
    optimizer, schedule = _optimizer_and_schedule(model, settings)
    meta = dict(meta or {}, train_fingerprint=run_fingerprint(settings, identity))
    start_epoch = 0
    history: list[dict] = []
    if resume_path is not None and Path(resume_path).is_file():
        start_epoch, history = _resume(model, optimizer, schedule, resume_path, meta["train_fingerprint"])

    forward = autocast_view(_data_parallel(model, device, ctx, settings), device, settings.precision)
    attack_model = autocast_view(model, device, settings.precision)
    data, _ = loading.as_uint8(train_set)
    for epoch in range(start_epoch, settings.epochs):
        total_loss, correct, seen, progress = _train_epoch(model, forward, attack_model, optimizer, data, settings,
                                                           epoch, ctx, device)
        schedule.step()
        record = {"epoch": epoch + 1, "loss": total_loss / seen, "train_accuracy": correct / seen,
                  "lr": optimizer.param_groups[0]["lr"]}
        history.append(record)
        _log_epoch(record, settings.epochs, seen, progress)
        if resume_path is not None and ctx.is_main:
            _save_resume_checkpoint(resume_path, model, optimizer, schedule, epoch + 1, meta, history)
    model.eval()
    if ctx.is_main:
        _save_final_checkpoint(checkpoint_path, resume_path, model, optimizer, schedule, settings.epochs, meta,
                               history)
    distributed.barrier()
    return {"epochs": settings.epochs, "resumed_from_epoch": start_epoch, "history": history}


def _optimizer_and_schedule(model: Classifier, settings: TrainSettings):
    """SGD with momentum and the step schedule of the recipe (lr / lr_gamma every lr_step epochs)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.effective_weight_decay)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step, gamma=settings.lr_gamma)
    return optimizer, schedule


def _data_parallel(model: Classifier, device: torch.device, ctx, settings: TrainSettings):
    """``model`` in DistributedDataParallel when there are several ranks, else ``model`` itself."""
    if ctx.world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    # Buffers (BN running statistics) follow rank 0 before every training forward (DDP's default).
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    log.info("DDP: rank %d of %d, %d images per rank and global batch of %d", ctx.rank, ctx.world,
             settings.batch_size // ctx.world, settings.batch_size)
    return ddp


def _epoch_batches(data, settings: TrainSettings, epoch: int, ctx, device):
    """Seeds every generator from (seed, epoch), so that a resumed run draws what an uninterrupted one
    does, and returns this rank's batch sampler and loader of the epoch."""
    seed_everything(settings.seed * 100_003 + epoch)
    generator = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)
    sampler = loading.GlobalBatchSampler(len(data), settings.batch_size, generator, ctx.rank, ctx.world)
    loader = loading.make_loader(data, device=device, num_workers=settings.num_workers, batch_sampler=sampler,
                                 generator=generator, rank=ctx.rank)
    return sampler, loader


def _next_batch(batches, device):
    """The next (images, labels) on ``device`` and the seconds spent waiting for them."""
    waited = time.perf_counter()
    images, labels = next(batches)
    images, labels = loading.to_device(images, device), labels.to(device, non_blocking=True)
    return images, labels, time.perf_counter() - waited


def _training_images(model: Classifier, attack_model, images, labels, settings: TrainSettings, ctx):
    """The images to train on: ``images`` themselves (ε = 0) or their PGD examples, made with every rank's
    buffers equal to rank 0's (as the following DDP forward makes them)."""
    if not settings.eps > 0:
        return images
    if ctx.world > 1:
        distributed.broadcast_buffers(model)
    return adversarial_batch(attack_model, images, labels, settings.eps, settings.attack_steps,
                             settings.attack_step_factor * settings.eps, settings.threat)


def _loss(logits, labels, settings: TrainSettings, ctx, n: int, step: int):
    """The loss to back-propagate and, under DDP, the rank's summed loss (else None).

    Under DDP the rank's sum over its images / the global batch, times the world size: DDP's mean of the
    ranks' gradients is then the global batch's mean.
    """
    if ctx.world <= 1:
        return F.cross_entropy(logits, labels), None
    n_global = min(settings.batch_size, n - step * settings.batch_size)
    loss_sum = F.cross_entropy(logits, labels, reduction="sum")
    return loss_sum * (ctx.world / n_global), loss_sum


def _train_epoch(model: Classifier, forward, attack_model, optimizer, data, settings: TrainSettings, epoch: int,
                 ctx, device):
    """One epoch over ``data``; returns the summed loss, correct predictions and images (over every rank)
    and the epoch's ProgressLog."""
    n = len(data)
    sampler, loader = _epoch_batches(data, settings, epoch, ctx, device)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    progress = ProgressLog(f"epoch {epoch + 1}/{settings.epochs}", n, PROGRESS_INTERVAL_S)
    batches = iter(loader)
    for step in range(len(sampler)):
        images, labels, waited = _next_batch(batches, device)
        images = _training_images(model, attack_model, images, labels, settings, ctx)
        logits = forward(images)
        loss, loss_sum = _loss(logits, labels, settings, ctx, n, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        batch_loss = loss_sum.item() if loss_sum is not None else loss.item() * len(labels)
        total_loss += batch_loss
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
        progress.update(len(labels) * ctx.world, batch_loss * ctx.world, waited)
    if ctx.world > 1:
        total_loss, correct, seen = distributed.all_reduce_sum([total_loss, correct, seen], device)
        correct, seen = int(correct), int(seen)
    return total_loss, correct, seen, progress


def _log_epoch(record: dict, epochs: int, seen: int, progress: ProgressLog) -> None:
    """The epoch's summary line: loss, train accuracy, images, throughput and duration."""
    log.info("epoch %d/%d loss %.4f train accuracy %.4f (%d images, %.1f img/s, %s)", record["epoch"],
             epochs, record["loss"], record["train_accuracy"], seen, progress.rate(),
             _duration(time.perf_counter() - progress.start))


def _checkpoint_meta(meta: dict, history: list[dict]) -> dict:
    """``meta`` with the history so far, which a resumed run continues."""
    return dict(meta, history=json.dumps(history))


def _save_resume_checkpoint(resume_path, model: Classifier, optimizer, schedule, epoch: int, meta: dict,
                            history: list[dict]) -> None:
    """The checkpoint after ``epoch`` (counted from 1) that a rerun resumes from."""
    save_robustness_checkpoint(resume_path, model, optimizer=optimizer, schedule=schedule, epoch=epoch,
                               meta=_checkpoint_meta(meta, history))


def _save_final_checkpoint(checkpoint_path, resume_path, model: Classifier, optimizer, schedule, epochs: int,
                           meta: dict, history: list[dict]) -> None:
    """The trained model's checkpoint; the resume file goes once it is written."""
    save_robustness_checkpoint(checkpoint_path, model, optimizer=optimizer, schedule=schedule,
                               epoch=epochs, meta=_checkpoint_meta(meta, history))
    if resume_path is not None:
        Path(resume_path).unlink(missing_ok=True)  # the run is complete: nothing to resume


def _resume(model, optimizer, schedule, path, fingerprint):
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as err:
        log.warning("ignoring unusable resume checkpoint: %s", err)
        return 0, []
    meta = ckpt.get("robuniv") or {}
    if meta.get("train_fingerprint") != fingerprint:
        log.warning("resume checkpoint %s belongs to another run (other model, data or settings); "
                    "starting afresh", path)
        return 0, []
    state = {k[len(MODEL_PREFIX):]: v for k, v in ckpt["model"].items() if k.startswith(MODEL_PREFIX)}
    model.net.load_state_dict(state, strict=True)
    optimizer.load_state_dict(ckpt["optimizer"])
    schedule.load_state_dict(ckpt["schedule"])
    log.info("resuming %s after epoch %d", path, ckpt["epoch"])
    return int(ckpt["epoch"]), json.loads(meta.get("history", "[]"))


@torch.no_grad()
def _predict(model, images):
    return model(images).argmax(1)


def evaluate(model: Classifier, dataset: Dataset, *, attack_eps: float,
             attack_steps: int = EvaluationSettings.attack_steps,
             attack_step_factor: float = EvaluationSettings.attack_step_factor,
             batch_size: int = EvaluationSettings.batch_size, max_images: Optional[int] = None,
             device: str | torch.device = "cpu", precision: str = "fp32", num_workers: int = 0,
             threat: str = "l2") -> dict:
    """Clean accuracy and accuracy under untargeted PGD (``threat``: l2 or linf) at ``attack_eps`` on
    ``dataset`` (``precision`` "bf16": forward passes under bf16 autocast)."""
    device = torch.device(device)
    model.to(device).eval()
    net = autocast_view(model, device, precision)
    n = len(dataset) if max_images is None else min(max_images, len(dataset))
    data, _ = loading.as_uint8(dataset)
    subset = torch.utils.data.Subset(data, range(n))
    loader = loading.make_loader(subset, batch_size=batch_size, device=device, num_workers=num_workers)
    clean = adversarial = 0
    for images, labels in _progress(loader, "evaluate"):
        images, labels = loading.to_device(images, device), labels.to(device)
        clean += (_predict(net, images) == labels).sum().item()
        adv = pgd(net, images, labels, eps=attack_eps, step_size=attack_step_factor * attack_eps,
                  steps=attack_steps, threat=threat, use_best=True)
        adversarial += (_predict(net, adv) == labels).sum().item()
    return {"n_images": n, "clean_accuracy": clean / n, "adversarial_accuracy": adversarial / n,
            "attack_eps": attack_eps, "attack_steps": attack_steps,
            "attack_step_size": attack_step_factor * attack_eps, "precision": precision, "threat": threat}
