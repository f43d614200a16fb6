"""Data sources: images in [0, 1] (float32, C x H x W, 3 channels) and integer labels.

Every source has a ``train`` and an ``eval`` split:
- ``sklearn_digits``: scikit-learn's 1,797 real 8x8 digits, a fixed stratified 80/20 split (the demo);
- ``cifar10``: CIFAR-10 in its on-disk python format (``cifar-10-batches-py``), read directly so that
  small fixtures in the same format work; ``download: true`` fetches it through torchvision;
- ``imagefolder``: ImageNet-style ``train/`` and ``val/`` class-folder trees, optionally restricted to a
  class list (ImageNet100), with the Resize(256)/CenterCrop(224) evaluation transform.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

SOURCES = ("sklearn_digits", "cifar10", "imagefolder")
SPLITS = ("train", "eval")

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # robustness library's CIFAR constants
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DIGITS_MEAN = (0.3054, 0.3054, 0.3054)  # mean / std of the digits' training split, all channels equal
DIGITS_STD = (0.3761, 0.3761, 0.3761)


@dataclass(frozen=True)
class SourceInfo:
    """What a model needs to know about a data source."""

    num_classes: int
    image_size: int
    variant: str  # model variant: "imagenet" or "cifar"
    mean: tuple
    std: tuple


class DataError(ValueError):
    """A data set is missing or malformed; the message names the path."""


def imagenet100_classes() -> list[str]:
    """The 100 WordNet ids of ImageNet100 (Tian et al.'s CMC subset), shipped with robuniv."""
    text = resources.files("robuniv").joinpath("classlists/imagenet100.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------- digits
def _digits_file() -> Path:
    # Located without importing scikit-learn (2 s per workflow job): it ships the data as a CSV.
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DataError("the sklearn_digits source needs scikit-learn installed")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DataError(f"scikit-learn's digits data {path} is missing")
    return path


def digits_split_indices(labels: np.ndarray, eval_fraction: float = 0.2, seed: int = 0):
    """A fixed stratified split: per class, a seeded ``eval_fraction`` of the images go to eval."""
    rng = np.random.default_rng(seed)
    eval_idx = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        eval_idx.append(rng.permutation(members)[: int(round(eval_fraction * len(members)))])
    eval_idx = np.sort(np.concatenate(eval_idx))
    train_idx = np.setdiff1d(np.arange(len(labels)), eval_idx)
    return train_idx, eval_idx


def _digits_arrays(split: str):
    table = np.loadtxt(_digits_file(), delimiter=",", dtype=np.float32)  # 64 pixels (0..16), then label
    images = (table[:, :-1] / 16.0).reshape(-1, 8, 8)
    labels = table[:, -1].astype(np.int64)
    train_idx, eval_idx = digits_split_indices(labels)
    chosen = train_idx if split == "train" else eval_idx
    x = np.repeat(images[chosen][:, None], 3, axis=1)  # grey -> 3 channels, like every other source
    return np.ascontiguousarray(x), labels[chosen]


# ---------------------------------------------------------------- CIFAR-10
CIFAR_DIR = "cifar-10-batches-py"


def _read_cifar_batch(path: Path):
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as err:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {err}") from err
    if len(labels) != len(data):
        raise DataError(f"CIFAR-10 batch {path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def _cifar_arrays(root: Path, split: str, download: bool):
    base = root / CIFAR_DIR
    if download and not base.is_dir():
        import torchvision

        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [str(base / n) for n in names if not (base / n).is_file()]
    if missing:
        raise DataError(f"CIFAR-10 files missing under {base}: {', '.join(missing)} "
                        "(set download: true where internet is available)")
    parts = [_read_cifar_batch(base / n) for n in names]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return data, labels


class _UInt8Images(Dataset):
    def __init__(self, data: np.ndarray, labels: np.ndarray, augment: bool):
        self.data, self.labels, self.augment = data, labels, augment

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(self.data[i]).float().div_(255)
        if self.augment:  # the robustness library's CIFAR training transform (crop 4, flip)
            x = torch.nn.functional.pad(x, (4, 4, 4, 4))
            top, left = np.random.randint(0, 9, size=2)
            x = x[:, top:top + 32, left:left + 32]
            if np.random.rand() < 0.5:
                x = x.flip(-1)
        return x, int(self.labels[i])


# ---------------------------------------------------------------- ImageFolder
def _imagefolder(root: Path, split: str, classes: Sequence[str] | None, image_size: int,
                 resize_size: int, augment: bool):
    from torchvision import datasets, transforms

    folder = root / ("train" if split == "train" else "val")
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist (expected {root}/train and {root}/val)")
    wanted = list(classes) if classes is not None else None

    class _Folder(datasets.ImageFolder):
        def find_classes(self, directory):
            found = sorted(e.name for e in Path(directory).iterdir() if e.is_dir())
            names = wanted if wanted is not None else found
            missing = sorted(set(names) - set(found))
            if missing:
                raise DataError(f"{directory}: class folders missing: {', '.join(missing[:5])}"
                                + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
            names = sorted(names)
            return names, {c: i for i, c in enumerate(names)}

    if augment:
        tf = transforms.Compose([transforms.RandomResizedCrop(image_size), transforms.RandomHorizontalFlip(),
                                 transforms.ColorJitter(0.1, 0.1, 0.1), transforms.ToTensor()])
    else:
        tf = transforms.Compose([transforms.Resize(resize_size), transforms.CenterCrop(image_size),
                                 transforms.ToTensor()])
    try:
        return _Folder(str(folder), transform=tf)
    except FileNotFoundError as err:
        raise DataError(f"{folder}: {err}") from err


# ---------------------------------------------------------------- public API
def source_info(source: str, settings: dict | None = None) -> SourceInfo:
    """Number of classes, image size, model variant and normalisation of a data source."""
    settings = settings or {}
    if source == "sklearn_digits":
        return SourceInfo(10, 8, "cifar", DIGITS_MEAN, DIGITS_STD)
    if source == "cifar10":
        return SourceInfo(10, 32, "cifar", CIFAR10_MEAN, CIFAR10_STD)
    if source == "imagefolder":
        classes = _class_list(settings)
        n = settings.get("num_classes") or (len(classes) if classes else 1000)
        return SourceInfo(int(n), int(settings.get("image_size", 224)), "imagenet", IMAGENET_MEAN, IMAGENET_STD)
    raise ValueError(f"unknown data source {source!r}; known: {', '.join(SOURCES)}")


def _class_list(settings: dict) -> list[str] | None:
    classes = settings.get("classes")
    if classes is None:
        return None
    if classes == "imagenet100":
        return imagenet100_classes()
    if isinstance(classes, str):
        path = Path(classes)
        if not path.is_file():
            raise DataError(f"class list file {path} does not exist")
        return [c.strip() for c in path.read_text().splitlines() if c.strip()]
    return list(classes)


def load_split(source: str, split: str, settings: dict | None = None, *, augment: bool = False) -> Dataset:
    """The ``split`` ("train" or "eval") of a data source as a torch Dataset of (image, label).

    ``settings`` holds the source's options: ``path`` (cifar10, imagefolder), ``download`` (cifar10),
    ``classes`` (imagefolder: a list, a file, or "imagenet100"), ``image_size``/``resize_size``.
    ``augment`` applies the source's training augmentation (ignored by the digits).
    """
    settings = settings or {}
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if source == "sklearn_digits":
        x, y = _digits_arrays(split)
        return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    if source in ("cifar10", "imagefolder"):
        if not settings.get("path"):
            raise DataError(f"data source {source!r} needs a 'path' setting")
        root = Path(settings["path"])
        if source == "cifar10":
            data, labels = _cifar_arrays(root, split, bool(settings.get("download", False)))
            return _UInt8Images(data, labels, augment)
        return _imagefolder(root, split, _class_list(settings), int(settings.get("image_size", 224)),
                            int(settings.get("resize_size", 256)), augment)
    raise ValueError(f"unknown data source {source!r}; known: {', '.join(SOURCES)}")


def labels_of(dataset: Dataset) -> np.ndarray:
    """All labels of a dataset without decoding its images."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].numpy()
    if isinstance(dataset, _UInt8Images):
        return np.asarray(dataset.labels)
    if hasattr(dataset, "targets"):
        return np.asarray(dataset.targets)
    return np.asarray([dataset[i][1] for i in range(len(dataset))])


def iter_images(dataset: Dataset, indices, batch_size: int):
    """Yield (positions, images, labels) for ``dataset[indices]`` in batches (never all in memory)."""
    indices = np.asarray(indices)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        if isinstance(dataset, TensorDataset):
            idx = torch.as_tensor(chunk)
            images, labels = dataset.tensors[0][idx], dataset.tensors[1][idx]
        else:
            items = [dataset[int(i)] for i in chunk]
            images = torch.stack([x for x, _ in items])
            labels = torch.as_tensor([y for _, y in items])
        yield np.arange(start, start + len(chunk)), images, labels
