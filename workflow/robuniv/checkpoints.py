"""Checkpoints in the robustness library's format, and their download.

Format (what ``robustness.train`` writes and Salman et al. released): a dict with ``model`` (state dict),
``optimizer``, ``schedule``, ``epoch``. Model keys are prefixed ``module.model.`` (the classifier),
``module.attacker.model.`` (the attacker's copy), ``module.normalizer.`` and ``module.attacker.normalize.``
(``new_mean``/``new_std``, shape 3x1x1). We read ``module.model.`` strictly and the normaliser if present.
"""
from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

import torch

from .atomic import atomic_path
from .models import IMAGENET_MEAN, IMAGENET_STD, Classifier, create_model

MODEL_PREFIX = "module.model."
ATTACKER_PREFIX = "module.attacker.model."
NORMALIZER_PREFIX = "module.normalizer."
ATTACKER_NORMALIZER_PREFIX = "module.attacker.normalize."


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not fit the model; the message names the file."""


def atomic_save(obj, path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def robustness_state_dict(model: Classifier) -> dict:
    """The model's weights under the robustness library's key names."""
    net_state = model.net.state_dict()
    mean = model.mean.detach().view(-1, 1, 1).clone()
    std = model.std.detach().view(-1, 1, 1).clone()
    state = {}
    state[NORMALIZER_PREFIX + "new_mean"] = mean
    state[NORMALIZER_PREFIX + "new_std"] = std
    for key, value in net_state.items():
        state[MODEL_PREFIX + key] = value
    state[ATTACKER_NORMALIZER_PREFIX + "new_mean"] = mean.clone()
    state[ATTACKER_NORMALIZER_PREFIX + "new_std"] = std.clone()
    for key, value in net_state.items():
        state[ATTACKER_PREFIX + key] = value
    return state


def save_robustness_checkpoint(path, model: Classifier, *, optimizer=None, schedule=None, epoch: int = 0,
                               meta: Optional[dict] = None) -> None:
    """Write ``model`` (and the training state) in the robustness library's format, atomically."""
    ckpt = {
        "model": robustness_state_dict(model),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "schedule": schedule.state_dict() if schedule is not None else None,
        "epoch": int(epoch),
    }
    if meta is not None:
        ckpt["robuniv"] = dict(meta)
    atomic_save(ckpt, path)


def read_checkpoint(path) -> dict:
    """Load a checkpoint file with ``weights_only=True``; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt files
        raise CheckpointError(f"checkpoint {path} is unreadable or corrupt: {err}") from err
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model", ckpt.get("state_dict")), dict):
        raise CheckpointError(f"checkpoint {path} has no 'model' state dict (not robustness-library format)")
    return ckpt


def load_robustness_checkpoint(path, arch: str, num_classes: int, *, variant: str = "imagenet",
                               width: float = 1.0, image_size: Optional[int] = None,
                               mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                               ) -> Classifier:
    """Build ``arch`` and load the ``module.model.`` weights of a robustness-format checkpoint strictly.

    The normalisation stored in the checkpoint (``module.normalizer.``) wins over ``mean``/``std``.
    A missing or unexpected key, or a shape mismatch, raises :class:`CheckpointError` naming the file
    and the first offending key. The model is returned in eval mode.
    """
    ckpt = read_checkpoint(path)
    state = ckpt.get("model", ckpt.get("state_dict"))
    net_state = {k[len(MODEL_PREFIX):]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    if not net_state:
        raise CheckpointError(f"checkpoint {path} has no '{MODEL_PREFIX}' keys "
                              f"(first key: {next(iter(state), None)!r})")
    if NORMALIZER_PREFIX + "new_mean" in state:
        mean = state[NORMALIZER_PREFIX + "new_mean"].flatten().tolist()
        std = state[NORMALIZER_PREFIX + "new_std"].flatten().tolist()
    model = create_model(arch, num_classes, variant=variant, width=width, image_size=image_size,
                         mean=mean, std=std)
    expected = model.net.state_dict()
    missing = [k for k in expected if k not in net_state]
    unexpected = [k for k in net_state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), first '{MODEL_PREFIX}{missing[0]}'")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), first '{MODEL_PREFIX}{unexpected[0]}'")
        raise CheckpointError(f"checkpoint {path} does not fit {arch} ({num_classes} classes, width {width}, "
                              f"{variant}): " + "; ".join(parts))
    for key, value in expected.items():
        if tuple(net_state[key].shape) != tuple(value.shape):
            raise CheckpointError(f"checkpoint {path} does not fit {arch}: {MODEL_PREFIX}{key} has shape "
                                  f"{tuple(net_state[key].shape)}, the model expects {tuple(value.shape)}")
    model.net.load_state_dict(net_state, strict=True)
    return model.eval()


def file_sha256(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class DownloadError(RuntimeError):
    """A download failed; the message names the URL. No file is left behind."""


def download(url: str, dest, *, sha256: Optional[str] = None, timeout: float = 60.0,
             chunk: int = 1 << 20, progress: bool = False) -> Path:
    """Stream ``url`` to ``dest`` through a temporary file, check size and sha256, then rename.

    The size is checked against the server's Content-Length. On any failure the temporary file is
    removed and :class:`DownloadError` names the URL; ``dest`` is only ever complete.
    """
    dest = Path(dest)
    digest = hashlib.sha256()
    received = 0
    with atomic_path(dest, suffix=".part") as tmp:
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "robuniv"})
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                length = response.headers.get("Content-Length")
                expected = int(length) if length is not None else None
                bar = None
                if progress:
                    from tqdm import tqdm

                    bar = tqdm(total=expected, unit="B", unit_scale=True, desc=dest.name, mininterval=10)
                while True:
                    try:
                        block = response.read(chunk)
                    except Exception as err:  # http.client.IncompleteRead and socket errors
                        raise DownloadError(f"download of {url} broke off after {received} bytes: {err}") from err
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
        except urllib.error.HTTPError as err:
            raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(f"download of {url} failed: {err}") from err
        if expected is not None and received != expected:
            raise DownloadError(f"download of {url} is truncated: {received} of {expected} bytes")
        if received == 0:
            raise DownloadError(f"download of {url} returned an empty file")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise DownloadError(f"download of {url}: sha256 {digest.hexdigest()} does not match "
                                f"the configured {sha256.lower()}")
    return dest


def verify_sha256(path, expected: str) -> None:
    actual = file_sha256(path)
    if actual.lower() != expected.lower():
        raise CheckpointError(f"checkpoint {path}: sha256 {actual} differs from the configured {expected}")
