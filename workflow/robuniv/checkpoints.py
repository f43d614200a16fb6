"""Checkpoints in the robustness library's format, their integrity checks and their download.

Format (what ``robustness.train`` writes and Salman et al. released): a dict with ``model`` (state dict),
``optimizer``, ``schedule``, ``epoch``. The model is the library's ``AttackerModel`` saved from
``DataParallel``: ``module.normalizer.`` and ``module.attacker.normalize.`` hold ``new_mean``/``new_std``
(3x1x1), ``module.attacker.model.`` a copy of the classifier, and the classifier's own keys come in one of
two layouts, told apart by the keys present:

* ``module.model.<net key>``: a network with the library's ``forward`` (``robustness.imagenet_models``
  resnet18/50, wide_resnet50_2/4; ``robustness.cifar_models``; every checkpoint robuniv writes);
* ``module.model.model.<net key>``: a torchvision network wrapped in ``robustness.model_utils.DummyModel``
  (Salman et al.'s densenet161, resnext50_32x4d and vgg16_bn).

Either way the network's keys are loaded strictly, plus the normaliser if present.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

import torch

from .atomic import atomic_path
from .models import IMAGENET_MEAN, IMAGENET_STD, Classifier, create_model
from .provenance import file_sha256  # noqa: F401 (re-exported: callers import it from here)

MODEL_PREFIX = "module.model."
DUMMY_MODEL_PREFIX = "module.model.model."  # robustness.model_utils.DummyModel around a torchvision net
ATTACKER_PREFIX = "module.attacker.model."
NORMALIZER_PREFIX = "module.normalizer."
ATTACKER_NORMALIZER_PREFIX = "module.attacker.normalize."


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not fit the model; the message names the file."""


def atomic_save(obj, path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written file.

    A failed write (torch reports a full disk as ``RuntimeError: ... unexpected pos ...``, or an
    ``OSError`` such as ENOSPC) raises :class:`CheckpointError` naming ``path``; the temporary is removed.
    """
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except (OSError, RuntimeError) as err:
        free = ""
        with contextlib.suppress(OSError):
            free = f" ({shutil.disk_usage(Path(path).parent).free // 2**20} MiB free there)"
        raise CheckpointError(f"cannot write checkpoint {path}: {type(err).__name__}: {err}; the disk may be full"
                              f"{free} or the folder not writable") from err


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


def checkpoint_layout(state: dict) -> str:
    """The classifier prefix of a robustness-format state dict: :data:`DUMMY_MODEL_PREFIX` if any key has it,
    else :data:`MODEL_PREFIX`."""
    return DUMMY_MODEL_PREFIX if any(k.startswith(DUMMY_MODEL_PREFIX) for k in state) else MODEL_PREFIX


def check_weights(state: dict, path) -> None:
    """CheckpointError naming ``path`` and the key unless every entry of ``state`` is a tensor of finite values."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"checkpoint {path}: '{key}' holds a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"checkpoint {path}: '{key}' holds {bad} NaN or inf value(s); the weights are "
                                  "broken (a diverged training?): retrain or fetch the checkpoint again")


def _load_library_checkpoint(path, arch: str, num_classes: int, input_size: Optional[int]) -> Classifier:
    """A provider model from a state dict in its library's own format (timm safetensors/pth, torchvision pth)."""
    from .providers import ProviderError, load_library_weights

    model = create_model(arch, num_classes, input_size=input_size)
    try:
        load_library_weights(model.net, path)
    except ProviderError as err:
        raise CheckpointError(f"checkpoint {err} (model {arch}, {num_classes} classes)") from None
    check_weights(model.net.library.state_dict(), path)
    return model.eval()


def _is_robustness_file(path) -> bool:
    """Whether ``path`` is a robustness-format checkpoint (which always holds its normaliser), e.g. a RobustBench
    architecture trained by this workflow, rather than one of RobustBench's own files."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt files
        raise CheckpointError(f"checkpoint {path} is unreadable or corrupt: {err}") from err
    inner = state.get("model", state.get("state_dict")) if isinstance(state, dict) else None
    return isinstance(inner, dict) and any(str(k).startswith(NORMALIZER_PREFIX) for k in inner)


def _load_robustbench_checkpoint(path, arch: str, num_classes: int, input_size: Optional[int]) -> Classifier:
    """A RobustBench model from the file RobustBench distributes, read by RobustBench's own loader."""
    from .models import ProviderClassifier
    from .providers import ProviderError, load_robustbench

    try:
        net, preprocessing = load_robustbench(arch, path, num_classes, input_size)
    except ProviderError as err:
        raise CheckpointError(f"checkpoint {err} (model {arch}, {num_classes} classes)") from None
    check_weights(net.library.state_dict(), path)
    return ProviderClassifier(net, arch, preprocessing).eval()


def load_robustness_checkpoint(path, arch: str, num_classes: int, *, variant: str = "imagenet",
                               width: float = 1.0, image_size: Optional[int] = None,
                               mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                               sha256: Optional[str] = None, input_size: Optional[int] = None) -> Classifier:
    """Build ``arch`` and load a robustness-format checkpoint's classifier weights strictly.

    The layout (``module.model.`` or ``module.model.model.``, see the module docstring) is chosen by the keys
    present. The normalisation stored in the checkpoint (``module.normalizer.``) wins over ``mean``/``std``.
    A missing or unexpected key, or a shape mismatch, raises :class:`CheckpointError` naming the file, the
    layout and the first offending key. With ``sha256`` the file is first checked by :func:`verify_sha256`.
    The model is returned in eval mode.
    """
    if sha256 is not None:
        verify_sha256(path, sha256)
    from . import providers

    provider = providers.split(arch)
    if provider is not None and provider[0] == "robustbench" and not _is_robustness_file(path):
        return _load_robustbench_checkpoint(path, arch, num_classes, input_size)
    if provider is not None and provider[0] != "robustbench" and providers.is_library_file(path):
        return _load_library_checkpoint(path, arch, num_classes, input_size)
    ckpt = read_checkpoint(path)
    state = ckpt.get("model", ckpt.get("state_dict"))
    prefix = checkpoint_layout(state)
    net_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not net_state:
        raise CheckpointError(f"checkpoint {path} has neither '{DUMMY_MODEL_PREFIX}' nor '{MODEL_PREFIX}' keys "
                              f"(first key: {next(iter(state), None)!r})")
    check_weights(state, path)
    if NORMALIZER_PREFIX + "new_mean" in state:
        mean = state[NORMALIZER_PREFIX + "new_mean"].flatten().tolist()
        std = state[NORMALIZER_PREFIX + "new_std"].flatten().tolist()
        if not all(v > 0 for v in std):
            raise CheckpointError(f"checkpoint {path}: the normaliser's std {std} has a value <= 0 "
                                  f"('{NORMALIZER_PREFIX}new_std')")
    model = create_model(arch, num_classes, variant=variant, width=width, image_size=image_size,
                         mean=mean, std=std, input_size=input_size)
    expected = model.net.state_dict()
    missing = [k for k in expected if k not in net_state]
    unexpected = [k for k in net_state if k not in expected]
    what = f"{arch} ({num_classes} classes, width {width}, {variant})"
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s), first '{prefix}{missing[0]}'")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), first '{prefix}{unexpected[0]}'")
        raise CheckpointError(f"checkpoint {path} (layout '{prefix}*') does not fit {what}: " + "; ".join(parts))
    for key, value in expected.items():
        if tuple(net_state[key].shape) != tuple(value.shape):
            raise CheckpointError(f"checkpoint {path} (layout '{prefix}*') does not fit {what}: {prefix}{key} has "
                                  f"shape {tuple(net_state[key].shape)}, the model expects {tuple(value.shape)}")
    model.net.load_state_dict(net_state, strict=True)
    return model.eval()


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _normalised_sha256(expected: str, what: str) -> str:
    value = str(expected).strip().lower()
    if not _SHA256.fullmatch(value):
        raise ValueError(f"the sha256 configured for {what} is not 64 hex digits: {expected!r}")
    return value


def verify_sha256(path, expected: str) -> str:
    """Check that file ``path`` has sha256 ``expected`` (hex, any case); return the digest.

    A mismatch or a missing file raises :class:`CheckpointError` naming the file, the expected and the
    actual digest.
    """
    path = Path(path)
    expected = _normalised_sha256(expected, str(path))
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected sha256 {expected})")
    actual = file_sha256(path)
    if actual != expected:
        raise CheckpointError(f"checkpoint {path} has sha256 {actual}, expected {expected}: the file is "
                              f"corrupt or not the configured one")
    return actual


class DownloadError(RuntimeError):
    """A download failed; the message names the URL. No file is left behind."""


def local_source(url: str) -> Optional[Path]:
    """The file a ``file://`` URL or a plain path names; ``None`` for a network URL."""
    parsed = urllib.parse.urlsplit(str(url))
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise DownloadError(f"download of {url}: file:// URLs must name a local file (host {parsed.netloc!r})")
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):  # a path (C:\ on Windows)
        return Path(url)
    return None


def _copy_local(url: str, source: Path, tmp: Path, chunk: int) -> tuple:
    digest = hashlib.sha256()
    received = 0
    try:
        if not source.is_file():
            raise DownloadError(f"download of {url} failed: {source} is not a file")
        expected = source.stat().st_size
        with open(source, "rb") as src, open(tmp, "wb") as out:
            while block := src.read(chunk):
                out.write(block)
                digest.update(block)
                received += len(block)
    except OSError as err:
        raise DownloadError(f"download of {url} failed: {err}") from err
    return received, expected, digest


def download(url: str, dest, *, sha256: Optional[str] = None, timeout: float = 60.0,
             chunk: int = 1 << 20, progress: bool = False) -> Path:
    """Fetch ``url`` to ``dest`` through a temporary file, check size and sha256, then rename.

    ``url`` is an http(s) URL, a ``file://`` URL or a plain local path (copied). The size is checked
    against the server's Content-Length (a local file's size). On any failure the temporary file is removed
    and :class:`DownloadError` names the URL (a sha256 mismatch: the expected and the actual digest);
    ``dest`` is only ever complete.
    """
    dest = Path(dest)
    if sha256 is not None:
        try:
            sha256 = _normalised_sha256(sha256, str(url))
        except ValueError as err:
            raise DownloadError(str(err)) from err
    source = local_source(url)
    with atomic_path(dest, suffix=".part") as tmp:
        if source is not None:
            received, expected, digest = _copy_local(url, source, tmp, chunk)
        else:
            received, expected, digest = _fetch(url, tmp, dest, timeout=timeout, chunk=chunk, progress=progress)
        if expected is not None and received != expected:
            raise DownloadError(f"download of {url} is truncated: {received} of {expected} bytes")
        if received == 0:
            raise DownloadError(f"download of {url} returned an empty file")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise DownloadError(f"download of {url}: sha256 {digest.hexdigest()} does not match "
                                f"the configured {sha256}")
    return dest


def _fetch(url: str, tmp: Path, dest: Path, *, timeout: float, chunk: int, progress: bool):
    digest = hashlib.sha256()
    received = 0
    expected = None
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
    except (urllib.error.URLError, OSError, ValueError) as err:  # ValueError: unknown url type
        raise DownloadError(f"download of {url} failed: {err}") from err
    return received, expected, digest
