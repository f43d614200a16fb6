"""Representation inversion (Ilyas et al. 2019): images whose representation matches a target's.

From a seed image s (another class), minimise ||f(s') - f(x)||₂ / ||f(x)||₂ over s' in [0, 1] by gradient
descent: per image, the gradient is normalised to unit L2 norm, momentum m <- 0.9 m + 0.1 g, a step of
``step_size`` against m, clamping to [0, 1]; the iterate with the lowest loss is kept per image.

``tie_channels=True`` (grayscale sources stored as three equal channels) averages the gradient over the
channel dimension before it is normalised, so an iterate whose channels start equal keeps them equal: the
inverted image stays grayscale instead of drifting into independently saturated colour channels.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .settings import InversionSettings


def relative_feature_loss(model, images, target_features, target_norms):
    return torch.linalg.vector_norm(model.forward_features(images) - target_features, dim=1) / target_norms


def invert(model, seeds: torch.Tensor, targets: torch.Tensor, *, iterations: int = InversionSettings.iterations,
           step_size: float = InversionSettings.step_size, momentum: float = InversionSettings.momentum,
           progress: Optional[Callable[[int, float], None]] = None,
           tie_channels: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverted images (best iterate per image) and their relative feature losses.

    The model is used in eval mode and left in the mode it had. ``tie_channels``: average the gradient over
    dimension 1 (channels of N x C x H x W images), keeping channels that start equal equal.
    """
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            target_features = model.forward_features(targets)
            target_norms = torch.linalg.vector_norm(target_features, dim=1).clamp_min(1e-12)
        x = seeds.detach().clone()
        velocity = torch.zeros_like(x)
        best, best_loss = x.clone(), torch.full((x.shape[0],), float("inf"), device=x.device)
        dims = [1] * (x.dim() - 1)
        for it in range(iterations):
            x.requires_grad_(True)
            loss = relative_feature_loss(model, x, target_features, target_norms)
            (grad,) = torch.autograd.grad(loss.sum(), [x])  # the sum keeps per-image gradients apart
            with torch.no_grad():
                better = loss < best_loss
                best[better], best_loss[better] = x[better], loss[better]
                if tie_channels:
                    grad = grad.mean(dim=1, keepdim=True).expand_as(grad)
                grad_norm = torch.linalg.vector_norm(grad.flatten(1), dim=1).view(-1, *dims)
                velocity = momentum * velocity + (1 - momentum) * grad / (grad_norm + 1e-12)
                x = torch.clamp(x - step_size * velocity, 0, 1)
            if progress is not None:
                progress(it, float(best_loss.mean()))
        with torch.no_grad():
            loss = relative_feature_loss(model, x, target_features, target_norms)
            better = loss < best_loss
            best[better], best_loss[better] = x[better], loss[better]
        return best.detach(), best_loss
    finally:
        model.train(was_training)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats to uint8 by rounding (not truncating)."""
    return torch.round(images.clamp(0, 1) * 255).to(torch.uint8)


def from_uint8(images) -> torch.Tensor:
    return torch.as_tensor(images).float() / 255
