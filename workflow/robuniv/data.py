"""Data sources: images in [0, 1] (float32, C x H x W, 3 channels) and integer labels.

The loaders and info functions of the sources that the torch-free catalogue :mod:`robuniv.sources` names
(its options, required keys, training overrides). Every source has a ``train`` and an ``eval`` split:

- ``sklearn_digits``: scikit-learn's 1,797 real 8x8 digits, a fixed stratified 80/20 split (the demo);
- ``cifar10``: CIFAR-10 in its on-disk python format (``cifar-10-batches-py``), read directly (with a
  restricted unpickler: the batch files cannot run code) so that small fixtures in the same format work;
  ``download: true`` fetches it through torchvision;
- ``imagefolder``: ImageNet-style ``train/`` and ``val/`` class-folder trees, optionally restricted to a
  class list (ImageNet100), with the Resize(256)/CenterCrop(224) evaluation transform. One class index
  (the class list, else the train split's class folders) numbers the classes of every split.

Training augmentation is the robustness library's (Salman et al.): CIFAR-10 RandomCrop(32, padding=4),
horizontal flip, ColorJitter(.25, .25, .25), RandomRotation(2); ImageNet RandomResizedCrop(224), horizontal
flip, ColorJitter(.1, .1, .1), Lighting(0.05) with the ImageNet PCA. The digits are never augmented.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .models import IMAGENET_MEAN, IMAGENET_STD
from .sources import SOURCES, get_source

SPLITS = ("train", "eval")

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)  # robustness library's CIFAR constants
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
DIGITS_MEAN = (0.3054, 0.3054, 0.3054)  # mean / std of the digits' training split, all channels equal
DIGITS_STD = (0.3761, 0.3761, 0.3761)

# The ImageNet PCA of the lighting noise (AlexNet's; the robustness library's ``IMAGENET_PCA``).
IMAGENET_PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                       (-0.5808, -0.0045, -0.8140),
                       (-0.5836, -0.6948, 0.4203))
IMAGENET_DEFAULT_CLASSES = 1000  # only while an imagefolder tree without class list is not there yet


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


# ---------------------------------------------------------------- augmentation
class Lighting:
    """AlexNet-style PCA lighting noise on a C x H x W tensor, as the robustness library's ``Lighting``.

    Draws ``alpha ~ N(0, alphastd)`` (3 values, torch's global generator) and adds
    ``eigvec @ (alpha * eigval)`` to each pixel; the same arithmetic order, so the same tensors.
    """

    def __init__(self, alphastd: float, eigval=IMAGENET_PCA_EIGVAL, eigvec=IMAGENET_PCA_EIGVEC):
        self.alphastd = alphastd
        self.eigval = torch.as_tensor(eigval, dtype=torch.float32)
        self.eigvec = torch.as_tensor(eigvec, dtype=torch.float32)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if self.alphastd == 0:
            return img
        alpha = img.new_empty(3).normal_(0, self.alphastd)
        rgb = (self.eigvec.type_as(img).clone()
               .mul(alpha.view(1, 3).expand(3, 3))
               .mul(self.eigval.type_as(img).view(1, 3).expand(3, 3))
               .sum(1).squeeze())
        return img.add(rgb.view(3, 1, 1).expand_as(img))

    def __repr__(self):
        return f"{type(self).__name__}(alphastd={self.alphastd})"


def cifar_train_transform(size: int = 32):
    """The robustness library's CIFAR training transform (``TRAIN_TRANSFORMS_DEFAULT(size)``) on PIL images."""
    from torchvision import transforms

    return transforms.Compose([transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip(),
                               transforms.ColorJitter(.25, .25, .25), transforms.RandomRotation(2),
                               transforms.ToTensor()])


def imagenet_train_transform(size: int = 224):
    """The robustness library's ImageNet training transform (``TRAIN_TRANSFORMS_IMAGENET``) on PIL images."""
    from torchvision import transforms

    return transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
                               transforms.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1),
                               transforms.ToTensor(), Lighting(0.05, IMAGENET_PCA_EIGVAL, IMAGENET_PCA_EIGVEC)])


def imagenet_eval_transform(size: int = 224, resize: int = 256):
    """Resize(resize), CenterCrop(size), ToTensor (the robustness library's ``TEST_TRANSFORMS_IMAGENET``)."""
    from torchvision import transforms

    return transforms.Compose([transforms.Resize(resize), transforms.CenterCrop(size), transforms.ToTensor()])


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


def digits_info(settings: Mapping[str, Any]) -> SourceInfo:
    return SourceInfo(10, 8, "cifar", DIGITS_MEAN, DIGITS_STD)


def digits_load(split: str, settings: Mapping[str, Any], augment: bool) -> Dataset:
    x, y = _digits_arrays(split)  # never augmented (the demo's models were trained so)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


# ---------------------------------------------------------------- CIFAR-10
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_BATCH_MAX_BYTES = 1 << 30  # a real batch is 31 MB


def _latin1_encode(text, encoding="latin1", errors="strict"):
    # What protocol-2 pickles written by Python 3 use for bytes (``_codecs.encode(str, "latin1")``).
    if not isinstance(text, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode is allowed only for latin1 text, got {encoding!r}")
    return text.encode("latin1", errors="strict")


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _frombuffer(buf, dtype, shape, order="C", axis_order=None):
    # What numpy's arrays reduce to under pickle protocol 5 (``numpy._core.numeric._frombuffer``).
    if not isinstance(buf, (bytes, bytearray, memoryview, pickle.PickleBuffer)) or not isinstance(dtype, np.dtype) \
            or dtype.hasobject or not isinstance(shape, tuple) or order not in ("C", "F", "K"):
        raise pickle.UnpicklingError("malformed numpy buffer in a CIFAR batch")
    array = np.frombuffer(buf, dtype=dtype)
    if order == "K" and axis_order is not None:
        return array.reshape(shape, order="C").transpose(axis_order)
    return array.reshape(shape, order=order)


class _CifarUnpickler(pickle.Unpickler):
    """Only what CIFAR's python batches hold: builtin containers, numpy arrays and dtypes.

    Real batches are Python 2 pickles of dicts (``data``: a uint8 numpy array via
    ``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``; ``labels``: a list of
    ints; ``batch_label``, ``filenames``: strings). Python 3 writes bytes into protocol-2 pickles with
    ``_codecs.encode`` (latin1 only here) and arrays into protocol-5 pickles with
    ``numpy._core.numeric._frombuffer`` (checked: no object dtypes); both module spellings of numpy
    (``numpy.core``, ``numpy._core``) are accepted. Any other global (``os.system``, ``builtins.eval``, ...)
    is refused before it is looked up, so a crafted file cannot run code.
    """

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _numpy_reconstruct()
        if name == "_frombuffer" and module in ("numpy.core.numeric", "numpy._core.numeric"):
            return _frombuffer
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a CIFAR batch")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed in a CIFAR batch")


def _entry(entry: dict, key: str):
    for k in (key, key.encode()):
        if k in entry:
            return entry[k]
    return None


def _read_cifar_batch(path: Path, num_classes: int = 10):
    """Images (n x 3 x 32 x 32 uint8) and labels of one CIFAR python batch; DataError naming ``path``."""
    try:
        size = path.stat().st_size
        if size > CIFAR_BATCH_MAX_BYTES:
            raise DataError(f"CIFAR-10 batch {path} is {size} bytes, not a CIFAR batch")
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read CIFAR-10 batch {path}: {err}") from err
    try:
        entry = _CifarUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:  # noqa: BLE001 - anything a malformed pickle raises (MemoryError too)
        raise DataError(f"cannot read CIFAR-10 batch {path}: {type(err).__name__}: {err}") from None
    if not isinstance(entry, dict):
        raise DataError(f"CIFAR-10 batch {path} holds a {type(entry).__name__}, not a dict")
    data = _entry(entry, "data")
    labels = _entry(entry, "labels")
    if labels is None:
        labels = _entry(entry, "fine_labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.size % 3072:
        raise DataError(f"CIFAR-10 batch {path}: 'data' is not a uint8 array of 3072-byte rows")
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"CIFAR-10 batch {path}: no 'labels' list")
    raw_labels = np.asarray(labels)
    if raw_labels.dtype.kind == "f":  # casting would truncate 1.7 to class 1
        fractional = raw_labels[~(np.isfinite(raw_labels) & (raw_labels == np.round(raw_labels)))]
        if fractional.size:
            raise DataError(f"CIFAR-10 batch {path}: labels are not integers (e.g. {fractional[:3].tolist()})")
    if raw_labels.dtype.kind not in "iuf" and raw_labels.size:
        raise DataError(f"CIFAR-10 batch {path}: labels are not integers (dtype {raw_labels.dtype})")
    try:
        labels = raw_labels.astype(np.int64)
    except (TypeError, ValueError, OverflowError) as err:
        raise DataError(f"CIFAR-10 batch {path}: labels are not integers: {err}") from None
    data = data.reshape(-1, 3, 32, 32)
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"CIFAR-10 batch {path}: {len(data)} images but {labels.size} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"CIFAR-10 batch {path}: labels outside 0..{num_classes - 1}")
    return data, labels


def _cifar_arrays(root: Path, split: str, download: bool):
    base = root / CIFAR_DIR
    if download and not base.is_dir():
        import torchvision

        try:
            torchvision.datasets.CIFAR10(str(root), train=True, download=True)
        except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad archive's checksum a RuntimeError
            raise DataError(f"CIFAR-10 could not be downloaded into {root} ({err}); without internet, place the "
                            f"python version's files (data_batch_1..5, test_batch, batches.meta) in {base}, "
                            "e.g. from cifar-10-python.tar.gz unpacked there, and set download: false") from err
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
    """uint8 C x H x W images; without a transform ``x / 255``, else ``transform(PIL image)``."""

    def __init__(self, data: np.ndarray, labels: np.ndarray, transform=None):
        self.data, self.labels, self.transform = data, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        if self.transform is None:
            x = torch.from_numpy(self.data[i]).float().div_(255)
        else:  # as torchvision's CIFAR10 hands images to the robustness library's transforms
            from PIL import Image

            x = self.transform(Image.fromarray(np.ascontiguousarray(self.data[i].transpose(1, 2, 0))))
        return x, int(self.labels[i])


def cifar_info(settings: Mapping[str, Any]) -> SourceInfo:
    return SourceInfo(10, 32, "cifar", CIFAR10_MEAN, CIFAR10_STD)


def cifar_load(split: str, settings: Mapping[str, Any], augment: bool) -> Dataset:
    data, labels = _cifar_arrays(Path(settings["path"]), split, bool(settings.get("download", False)))
    return _UInt8Images(data, labels, cifar_train_transform(32) if augment else None)


# ---------------------------------------------------------------- ImageFolder
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _class_list(settings: Mapping[str, Any]) -> list[str] | None:
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
    return [str(c) for c in classes]


@functools.lru_cache(maxsize=64)
def _scan_class_dirs(folder: str, mtime_ns: int) -> tuple[str, ...]:
    return tuple(sorted(e.name for e in Path(folder).iterdir() if e.is_dir()))


def _class_dirs(folder: Path) -> tuple[str, ...]:
    """The sorted class-folder names of a split folder (cached until the folder changes)."""
    try:
        return _scan_class_dirs(str(folder), folder.stat().st_mtime_ns)
    except OSError as err:
        raise DataError(f"cannot list image folder {folder}: {err}") from err


def _listing(names, limit: int = 5) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _check_num_classes(settings: Mapping[str, Any], index: Sequence[str], where: str) -> None:
    n = settings.get("num_classes")
    if n is not None and int(n) != len(index):
        raise DataError(f"num_classes: {n} does not match the {len(index)} classes of {where}")


def imagefolder_class_index(settings: Mapping[str, Any]) -> list[str]:
    """The one class index of an imagefolder source: label ``i`` is class ``index[i]`` in every split.

    From the class list (``classes``) if given, sorted, each of its classes required in ``train/``
    (``val/`` may lack some: its labels still follow the index; other folders are ignored); else the
    sorted class folders of ``train/``. DataError naming the folder and class otherwise, and when a
    ``num_classes`` setting disagrees with the index.
    """
    root = Path(settings["path"])
    train = root / "train"
    classes = _class_list(settings)
    if classes is not None:
        dupes = sorted({c for c in classes if classes.count(c) > 1})
        if dupes:
            raise DataError(f"class list names classes twice: {_listing(dupes)}")
        if not classes:
            raise DataError("the class list is empty")
    if not train.is_dir():
        raise DataError(f"image folder {train} does not exist (expected {root}/train and {root}/val)")
    found = _class_dirs(train)
    if classes is None:
        index = list(found)
        if not index:
            raise DataError(f"image folder {train} has no class folders")
        where = f"{train}"
    else:
        index = sorted(classes)
        missing = sorted(set(index) - set(found))
        if missing:
            raise DataError(f"{train}: class folders missing: {_listing(missing)}")
        where = "the class list"
    _check_num_classes(settings, index, where)
    return index


class ImageFiles(Dataset):
    """Image files with labels from a fixed class index (``classes``, ``class_to_idx``, ``samples``, ``targets``)."""

    def __init__(self, root: Path, samples: list[tuple[str, int]], classes: list[str], transform=None):
        self.root = str(root)
        self.samples = samples
        self.targets = [label for _, label in samples]
        self.classes = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.transform = transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        from PIL import Image

        path, label = self.samples[i]
        try:
            with open(path, "rb") as fh:
                img = to_rgb(Image.open(fh), path)
        except (OSError, ValueError, SyntaxError) as err:  # PIL: UnidentifiedImageError, "image file is truncated"
            raise DataError(f"image {path}: cannot be decoded ({type(err).__name__}: {err}); replace or remove "
                            "the file") from err
        return (self.transform(img) if self.transform is not None else img), label


def to_rgb(img, path):
    """8-bit RGB of a decoded image. PIL's own convert("RGB") clips 16-bit grayscale (PNG, TIFF) to white and
    turns 32-bit float images black; here 16-bit values are scaled to 8 bits (round(v / 257)) and images of
    another depth are refused naming the file. Palette, grayscale, CMYK, alpha (dropped) and the rest: PIL's."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":  # 16-bit grayscale ("I": how some Pillows open it)
        values = np.asarray(img, dtype=np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise DataError(f"image {path}: {img.mode} values {values.min()}..{values.max()} are not 16-bit; "
                            "convert it to 8 or 16 bits per channel")
        img = Image.fromarray(((values + 128) // 257).astype(np.uint8), "L")
    elif img.mode == "F":
        raise DataError(f"image {path}: 32-bit floating-point pixels (mode F) have no known range; convert it "
                        "to 8 or 16 bits per channel")
    return img.convert("RGB")


def imagefolder_info(settings: Mapping[str, Any]) -> SourceInfo:
    size = int(settings.get("image_size", 224))
    classes = _class_list(settings)
    if classes is not None:
        n = len(set(classes))
        _check_num_classes(settings, sorted(set(classes)), "the class list")
    elif settings.get("path") and (Path(settings["path"]) / "train").is_dir():
        n = len(imagefolder_class_index(settings))
    else:  # not there (yet: a dry run); loading it raises
        n = int(settings.get("num_classes") or IMAGENET_DEFAULT_CLASSES)
    return SourceInfo(n, size, "imagenet", IMAGENET_MEAN, IMAGENET_STD)


def image_files(folder: Path, classes: Mapping[str, int]) -> list[tuple[str, int]]:
    """(path, label) of every image file under ``folder/<class>/`` (links followed), in torchvision's
    ``make_dataset`` order: classes sorted, then folders by path, then file names. A folder reached twice (a
    symbolic-link loop, or one folder linked in twice: its images would count more than once) and a link to
    nothing are errors naming them; so is a class without images."""
    samples, empty = [], []
    for name in sorted(classes):
        walked, seen = [], {}
        for root, dirs, files in os.walk(folder / name, followlinks=True):
            real = os.path.realpath(root)
            if real in seen:
                raise DataError(f"{root}: the same folder as {seen[real]} (a symbolic-link loop, or a folder linked "
                                "in twice): its images would count more than once; remove the link")
            seen[real] = root
            walked.append((root, files))
        found = []
        for root, files in sorted(walked):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    path = os.path.join(root, file)
                    if not os.path.exists(path):
                        raise DataError(f"{path}: a symbolic link to nothing ({os.readlink(path)}); remove it or "
                                        "restore its target")
                    found.append((path, classes[name]))
        if not found:
            empty.append(name)
        samples += found
    if empty:
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) for the classes "
                        f"{_listing(empty)}")
    return samples


def imagefolder_load(split: str, settings: Mapping[str, Any], augment: bool) -> Dataset:
    root = Path(settings["path"])
    index = imagefolder_class_index(settings)
    folder = root / ("train" if split == "train" else "val")
    if not folder.is_dir():
        raise DataError(f"image folder {folder} does not exist (expected {root}/train and {root}/val)")
    found = set(_class_dirs(folder))
    if settings.get("classes") is None:
        extra = sorted(found - set(index))
        if extra:
            raise DataError(f"{folder}: class folders not in the train split's classes: {_listing(extra)}")
    present = {c: i for i, c in enumerate(index) if c in found}
    if not present:
        raise DataError(f"{folder}: none of the {len(index)} classes has a folder")
    samples = image_files(folder, present)
    size, resize = int(settings.get("image_size", 224)), int(settings.get("resize_size", 256))
    tf = imagenet_train_transform(size) if augment else imagenet_eval_transform(size, resize)
    return ImageFiles(folder, samples, index, tf)


# ---------------------------------------------------------------- public API
def source_info(source: str, settings: Mapping[str, Any] | None = None) -> SourceInfo:
    """Number of classes, image size, model variant and normalisation of a data source."""
    return get_source(source).info_function()(dict(settings or {}))


def load_split(source: str, split: str, settings: Mapping[str, Any] | None = None, *,
               augment: bool = False) -> Dataset:
    """The ``split`` ("train" or "eval") of a data source as a torch Dataset of (image, label).

    ``settings`` holds the source's options: ``path`` (cifar10, imagefolder), ``download`` (cifar10),
    ``classes`` (imagefolder: a list, a file, or "imagenet100"), ``image_size``/``resize_size``,
    ``num_classes`` (imagefolder: checked against the class index).
    ``augment`` applies the source's training augmentation (ignored by the digits).
    """
    src = get_source(source)
    settings = dict(settings or {})
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    for key in src.required:
        if settings.get(key) in (None, ""):
            raise DataError(f"data source {src.name!r} needs a {key!r} setting")
    return src.load_function()(split, settings, bool(augment))


def _split_settings(source_settings: Mapping[str, Any]) -> tuple[str, dict]:
    if "source" not in source_settings:
        raise ValueError(f"source settings need a 'source' key (one of {', '.join(SOURCES)}); "
                         f"got keys {sorted(source_settings)}")
    settings = {k: v for k, v in source_settings.items() if k != "source"}
    return source_settings["source"], settings


def open_split(source_settings: Mapping[str, Any], split: str, *, augment: bool = False) -> Dataset:
    """:func:`load_split` from a settings mapping that includes its ``source`` key (workflow params).

    The mapping is not changed.
    """
    source, settings = _split_settings(source_settings)
    return load_split(source, split, settings, augment=augment)


def source_info_of(source_settings: Mapping[str, Any]) -> SourceInfo:
    """:func:`source_info` from a settings mapping that includes its ``source`` key (not changed)."""
    source, settings = _split_settings(source_settings)
    return source_info(source, settings)


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


def open_splits(source_settings: Mapping[str, Any]) -> dict[str, Dataset]:
    """Every split of a data set, unaugmented, by name."""
    return {split: open_split(source_settings, split) for split in SPLITS}


def content_digest(splits: Mapping[str, Dataset], samples: int = 3) -> str:
    """A cheap fingerprint of a data set's content (``splits``: :func:`open_splits`), independent of where it
    lies: per split, its size, every label and ``samples`` evenly spaced images. Moved data keeps its digest;
    other data, a changed class list or another split does not."""
    digest = hashlib.sha256()
    for split, data in splits.items():
        labels = np.ascontiguousarray(labels_of(data), dtype=np.int64)
        digest.update(f"{split}:{len(labels)}:".encode())
        digest.update(labels.tobytes())
        for i in np.unique(np.linspace(0, len(labels) - 1, samples).round().astype(np.int64)) if len(labels) else []:
            image = data[int(i)][0]
            digest.update(np.ascontiguousarray(torch.as_tensor(image).to(torch.float32).numpy()).tobytes())
    return digest.hexdigest()


def check_content(source_settings: Mapping[str, Any], summary_path) -> None:
    """Raise a :class:`DataError` when the data that ``source_settings`` point to is not the data the data set's
    summary (``dataset.json``, written by the ``prepare_dataset`` job) was made from."""
    import json

    recorded = json.loads(Path(summary_path).read_text()).get("content_digest")
    if recorded is None:  # a summary from before digests were recorded: nothing to compare
        return
    if content_digest(open_splits(source_settings)) != recorded:
        locations = get_source(source_settings["source"]).locations
        where = ", ".join(f"{k}: {source_settings[k]}" for k in locations if k in source_settings)
        raise DataError(f"the data at {where or source_settings['source']} is not the data {summary_path} was "
                        "made from (other images, labels or splits); point the data set back at it, or delete "
                        f"{summary_path} to recompute everything made from it")
