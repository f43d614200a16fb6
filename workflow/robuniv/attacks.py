"""L2 and L∞ projected gradient descent, arithmetic identical to the robustness library.

The library's ``L2Step``/``LinfStep`` and its ``Attacker.forward`` loop are reproduced op for op (same
tensor operations in the same order), so on CPU the adversarial images are bit-identical;
``tests/test_attacks.py`` checks that against ``robustness.attack_steps.L2Step`` and ``LinfStep``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy of ``model(images)`` (the default attack loss)."""
    return F.cross_entropy(model(images), labels, reduction="none")


def l2_step(x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
    """``x + step_size * g / (||g||_2 + 1e-10)`` per example (robustness ``L2Step.step``)."""
    dims = x.dim() - 1
    g_norm = torch.norm(grad.view(grad.shape[0], -1), dim=1).view(-1, *([1] * dims))
    return x + grad / (g_norm + 1e-10) * step_size


def l2_project(x: torch.Tensor, orig: torch.Tensor, eps: float) -> torch.Tensor:
    """Project onto the L2 ball of radius ``eps`` around ``orig``, then onto [0, 1]."""
    diff = (x - orig).renorm(p=2, dim=0, maxnorm=eps)  # scales by eps/(norm+1e-7) where norm > eps
    return torch.clamp(orig + diff, 0, 1)


def l2_random_start(x: torch.Tensor, eps: float) -> torch.Tensor:
    dims = x.dim() - 1
    noise = torch.randn_like(x)
    noise_norm = noise.view(noise.shape[0], -1).norm(dim=1).view(-1, *([1] * dims))
    return torch.clamp(x + eps * noise / (noise_norm + 1e-10), 0, 1)


def linf_step(x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
    """``x + step_size * sign(g)`` (robustness ``LinfStep.step``)."""
    return x + torch.sign(grad) * step_size


def linf_project(x: torch.Tensor, orig: torch.Tensor, eps: float) -> torch.Tensor:
    """Clip to the L∞ box of half-width ``eps`` around ``orig``, then to [0, 1] (robustness ``LinfStep.project``)."""
    return torch.clamp(torch.clamp(x - orig, -eps, eps) + orig, 0, 1)


def linf_random_start(x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.clamp(x + 2 * (torch.rand_like(x) - 0.5) * eps, 0, 1)


# threat model -> (step, projection, random start), each the robustness library's arithmetic
THREATS = {"l2": (l2_step, l2_project, l2_random_start), "linf": (linf_step, linf_project, linf_random_start)}


def pgd(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float, step_size: float,
        steps: int, threat: str = "l2", targeted: bool = False, use_best: bool = True, random_start: bool = False,
        loss_fn: Optional[LossFn] = None) -> torch.Tensor:
    """PGD in the ``threat`` model ("l2" or "linf"): :func:`pgd_l2` with that model's step and projection."""
    if threat not in THREATS:
        raise ValueError(f"threat must be one of {', '.join(THREATS)}, got {threat!r}")
    return _pgd(model, images, labels, eps=eps, step_size=step_size, steps=steps, targeted=targeted,
                use_best=use_best, random_start=random_start, loss_fn=loss_fn, threat=threat)


def pgd_linf(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
    """Adversarial images within L∞ distance ``eps`` of ``images``; arguments as :func:`pgd_l2`."""
    return pgd(model, images, labels, threat="linf", **kwargs)


def pgd_l2(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float,
           step_size: float, steps: int, targeted: bool = False, use_best: bool = True,
           random_start: bool = False, loss_fn: Optional[LossFn] = None) -> torch.Tensor:
    """Adversarial images within L2 distance ``eps`` of ``images`` (pixels in [0, 1]).

    Maximises ``loss_fn(model, x, labels)`` (minimises it when ``targeted``; then ``labels`` are the
    targets). With ``use_best`` the iterate with the highest (targeted: lowest) per-example loss is
    returned, the last iterate included. The model's train/eval mode is left as the caller set it;
    the robustness library attacks in eval mode, as :func:`robuniv.training` does.
    """
    return _pgd(model, images, labels, eps=eps, step_size=step_size, steps=steps, targeted=targeted,
                use_best=use_best, random_start=random_start, loss_fn=loss_fn, threat="l2")


def _pgd(model, images, labels, *, eps, step_size, steps, targeted, use_best, random_start, loss_fn, threat):
    step, project, start = THREATS[threat]
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    if not (math.isfinite(step_size) and step_size >= 0):
        raise ValueError(f"step_size must be a finite number >= 0, got {step_size}")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    loss_fn = loss_fn or cross_entropy_loss
    sign = -1 if targeted else 1
    orig = images.detach()
    x = orig.clone()
    if random_start:
        x = start(x, eps)
    best_loss, best_x = None, None

    def keep_best(losses, x):
        nonlocal best_loss, best_x
        if best_loss is None:
            best_x, best_loss = x.clone().detach(), losses.clone().detach()
        else:
            replace = sign * best_loss < sign * losses
            best_x[replace] = x[replace].clone().detach()
            best_loss[replace] = losses[replace]

    for _ in range(steps):
        x = x.clone().detach().requires_grad_(True)
        losses = loss_fn(model, x, labels)
        if losses.shape[0] != x.shape[0]:
            raise ValueError("loss_fn must return one loss per example")
        (grad,) = torch.autograd.grad(sign * torch.mean(losses), [x])
        with torch.no_grad():
            if use_best:
                keep_best(losses, x)
            x = project(step(x, grad, step_size), orig, eps)
    if not use_best:
        return x.clone().detach()
    with torch.no_grad():
        losses = loss_fn(model, x, labels)
        keep_best(losses, x)
    return best_x
