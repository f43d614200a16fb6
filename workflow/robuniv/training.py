"""(Adversarial) training with the Salman et al. recipe and evaluation.

SGD with momentum, learning rate divided by ``lr_gamma`` every ``lr_step`` epochs; with ``eps > 0`` each
batch is replaced by L2-PGD adversarial examples (``attack_steps`` steps of ``attack_step_factor * eps``,
highest-loss step kept) computed with the model in eval mode, as the robustness library does.
After every epoch a robustness-format checkpoint is written atomically; a rerun resumes from it.
Each epoch's randomness is seeded from (seed, epoch), so a resumed run equals an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .attacks import pgd_l2
from .checkpoints import CheckpointError, read_checkpoint, save_robustness_checkpoint, MODEL_PREFIX
from .models import Classifier
from .settings import EvaluationSettings, TrainSettings

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _progress(iterable, desc: str, total: Optional[int] = None):
    from tqdm import tqdm

    # In a log file (no terminal) print rarely; in a terminal, a live bar.
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=None if sys.stderr.isatty() else True)


def adversarial_batch(model: Classifier, images, labels, eps: float, steps: int, step_size: float):
    """PGD-L2 examples with the model in eval mode; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        return pgd_l2(model, images, labels, eps=eps, step_size=step_size, steps=steps, use_best=True)
    finally:
        model.train(was_training)


def run_fingerprint(settings: TrainSettings, identity: Optional[dict] = None) -> str:
    """Hash of everything that determines the weights: the training settings and ``identity``
    (architecture, width, data source and class list, ...)."""
    payload = json.dumps({"settings": settings.fingerprint(), "identity": identity or {}}, sort_keys=True,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_model(model: Classifier, train_set: Dataset, settings: TrainSettings, *,
                checkpoint_path, resume_path=None, meta: Optional[dict] = None, identity: Optional[dict] = None,
                device: str | torch.device = "cpu") -> dict:
    """Train ``model`` in place and write the final checkpoint to ``checkpoint_path``.

    ``resume_path`` receives a checkpoint after every epoch; if it holds a checkpoint of the same run
    (same settings and ``identity``: model and data), training resumes after its epoch; any other resume
    file is ignored. It is removed once the final checkpoint is written. Returns a summary with the
    per-epoch history.
    """
    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                                weight_decay=settings.effective_weight_decay)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.lr_step, gamma=settings.lr_gamma)
    meta = dict(meta or {}, train_fingerprint=run_fingerprint(settings, identity))
    start_epoch = 0
    history: list[dict] = []
    if resume_path is not None and Path(resume_path).is_file():
        start_epoch, history = _resume(model, optimizer, schedule, resume_path, meta["train_fingerprint"])

    step_size = settings.attack_step_factor * settings.eps
    for epoch in range(start_epoch, settings.epochs):
        seed_everything(settings.seed * 100_003 + epoch)
        generator = torch.Generator().manual_seed(settings.seed * 100_003 + epoch)
        loader = DataLoader(train_set, batch_size=settings.batch_size, shuffle=True, generator=generator,
                            num_workers=settings.num_workers, drop_last=False)
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        for images, labels in _progress(loader, f"epoch {epoch + 1}/{settings.epochs}"):
            images, labels = images.to(device), labels.to(device)
            if settings.eps > 0:
                images = adversarial_batch(model, images, labels, settings.eps, settings.attack_steps, step_size)
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
        schedule.step()
        record = {"epoch": epoch + 1, "loss": total_loss / seen, "train_accuracy": correct / seen,
                  "lr": optimizer.param_groups[0]["lr"]}
        history.append(record)
        log.info("epoch %d/%d loss %.4f train accuracy %.4f", epoch + 1, settings.epochs,
                 record["loss"], record["train_accuracy"])
        if resume_path is not None:
            save_robustness_checkpoint(resume_path, model, optimizer=optimizer, schedule=schedule,
                                       epoch=epoch + 1, meta=dict(meta, history=json.dumps(history)))
    model.eval()
    save_robustness_checkpoint(checkpoint_path, model, optimizer=optimizer, schedule=schedule,
                               epoch=settings.epochs, meta=dict(meta, history=json.dumps(history)))
    if resume_path is not None:
        Path(resume_path).unlink(missing_ok=True)  # the run is complete: nothing to resume
    return {"epochs": settings.epochs, "resumed_from_epoch": start_epoch, "history": history}


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
             device: str | torch.device = "cpu") -> dict:
    """Clean accuracy and accuracy under untargeted PGD-L2 at ``attack_eps`` on ``dataset``."""
    device = torch.device(device)
    model.to(device).eval()
    n = len(dataset) if max_images is None else min(max_images, len(dataset))
    subset = torch.utils.data.Subset(dataset, range(n))
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False)
    clean = adversarial = 0
    for images, labels in _progress(loader, "evaluate"):
        images, labels = images.to(device), labels.to(device)
        clean += (_predict(model, images) == labels).sum().item()
        adv = pgd_l2(model, images, labels, eps=attack_eps, step_size=attack_step_factor * attack_eps,
                     steps=attack_steps, use_best=True)
        adversarial += (_predict(model, adv) == labels).sum().item()
    return {"n_images": n, "clean_accuracy": clean / n, "adversarial_accuracy": adversarial / n,
            "attack_eps": attack_eps, "attack_steps": attack_steps,
            "attack_step_size": attack_step_factor * attack_eps}
