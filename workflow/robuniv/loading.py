"""Feeding the GPU: DataLoader workers, pinned memory, uint8 transfer, normalisation on the device.

Images travel from the workers to the device as uint8 wherever that is lossless and become floats in
[0, 1] on the device (``x.float() / 255``: the same IEEE operation as ``ToTensor``, so the floats are
bit-identical to those of the old float path); the models normalise on the device (``Classifier.normalize``).
A dataset whose transform ends in ``ToTensor`` gets ``PILToTensor`` instead, a uint8 dataset without a
transform hands out its bytes; anything else (the digits, ImageNet's training augmentation whose
``Lighting`` works on floats) stays float32.

The comparison inputs are decoded once: :func:`write_input_images` stores the targets' and seeds' uint8
images in ``inputs.h5``, and inversion and extraction read them from there (:func:`pair_batches`,
:func:`target_batches`) instead of decoding JPEGs again; an ``inputs.h5`` without images (older versions,
or a source whose images are not uint8) falls back to the data set.
"""
from __future__ import annotations

import functools
import logging
import random
from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

log = logging.getLogger(__name__)

TARGET_IMAGES, SEED_IMAGES = "target_images", "seed_images"


# ---------------------------------------------------------------- uint8 datasets
def _swap_to_tensor(transform):
    from torchvision import transforms as T

    if isinstance(transform, T.ToTensor):
        return T.PILToTensor()
    if isinstance(transform, T.Compose) and transform.transforms and isinstance(transform.transforms[-1], T.ToTensor):
        return T.Compose([*transform.transforms[:-1], T.PILToTensor()])
    return None


def as_uint8(dataset: Dataset) -> tuple[Dataset, bool]:
    """(a dataset whose images are uint8, True), or (``dataset``, False) where that would change the data."""
    import copy

    from .data import ImageFiles, _UInt8Images

    if isinstance(dataset, _UInt8Images) and dataset.transform is None:
        return _RawUInt8(dataset.data, dataset.labels), True
    if isinstance(dataset, (_UInt8Images, ImageFiles)) and dataset.transform is not None:
        swapped = _swap_to_tensor(dataset.transform)
        if swapped is not None:
            out = copy.copy(dataset)
            out.transform = swapped
            return out, True
    return dataset, False


class _RawUInt8(Dataset):
    def __init__(self, data, labels):
        self.data, self.labels = data, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.from_numpy(np.ascontiguousarray(self.data[i])), int(self.labels[i])


def to_device(images: torch.Tensor, device) -> torch.Tensor:
    """Images on ``device`` as float32 in [0, 1]; uint8 is converted there (``x.float() / 255``)."""
    images = images.to(device, non_blocking=True)
    if images.dtype == torch.uint8:
        return images.float().div_(255)
    return images.float() if images.dtype != torch.float32 else images


# ---------------------------------------------------------------- loaders
def _seed_worker(offset: int, worker_id: int) -> None:
    seed = (torch.initial_seed() + offset) % 2**63
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def make_loader(dataset: Dataset, *, batch_size: Optional[int] = None, device="cpu", num_workers: int = 0,
                batch_sampler=None, generator=None, persistent: bool = False, rank: int = 0,
                prefetch_factor: int = 4) -> DataLoader:
    """A DataLoader with ``num_workers`` workers, pinned memory on CUDA, persistent workers when asked
    (a loader iterated more than once), in-order batches. ``rank`` > 0 offsets the workers' seeds so that
    the ranks of a DDP job draw different augmentations."""
    kwargs = {}
    if num_workers > 0:
        kwargs.update(persistent_workers=persistent, prefetch_factor=prefetch_factor)
        if rank:
            kwargs["worker_init_fn"] = functools.partial(_seed_worker, 1_000_003 * rank)
    if batch_sampler is not None:
        kwargs["batch_sampler"] = batch_sampler
    else:
        kwargs.update(batch_size=batch_size, shuffle=False)
    return DataLoader(dataset, num_workers=num_workers, generator=generator,
                      pin_memory=torch.device(device).type == "cuda", **kwargs)


class GlobalBatchSampler(Sampler):
    """Batches of one epoch: a permutation drawn from ``generator`` (lazily, as ``RandomSampler`` does, so
    with one process the batches equal ``DataLoader(shuffle=True, generator=...)``'s), cut into global
    batches of ``batch_size``; with ``world`` processes rank ``rank`` gets ``global_batch[rank::world]``
    (the ranks' union is the global batch). With ``world`` > 1 a last global batch of fewer than
    ``world`` images is skipped (a rank must not get an empty batch)."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, rank: int = 0, world: int = 1):
        self.n, self.batch_size, self.generator, self.rank, self.world = n, batch_size, generator, rank, world

    def global_batches(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and (self.world == 1 or rest >= self.world) else 0)

    def __len__(self):
        return self.global_batches()

    def __iter__(self) -> Iterator[list[int]]:
        perm = torch.randperm(self.n, generator=self.generator).tolist()
        for k in range(self.global_batches()):
            chunk = perm[k * self.batch_size:(k + 1) * self.batch_size]
            yield chunk if self.world == 1 else chunk[self.rank::self.world]


class _Positions(Dataset):
    """(image, label, position) of ``dataset[indices[position]]``."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, pos):
        x, y = self.dataset[int(self.indices[pos])]
        return x, y, pos


def image_batches(dataset: Dataset, indices, batch_size: int, *, device="cpu", num_workers: int = 0):
    """Like :func:`robuniv.data.iter_images` — (positions, images, labels) of ``dataset[indices]`` in order —
    through a DataLoader (workers, pinned memory, uint8); images arrive on ``device`` as float32."""
    from torch.utils.data import TensorDataset

    from .data import iter_images

    if isinstance(dataset, TensorDataset) or num_workers == 0 and not as_uint8(dataset)[1]:
        for pos, x, y in iter_images(dataset, indices, batch_size):
            yield pos, to_device(x, device), y
        return
    data, _ = as_uint8(dataset)
    loader = make_loader(_Positions(data, indices), batch_size=batch_size, device=device, num_workers=num_workers)
    for x, y, pos in loader:
        yield pos.numpy(), to_device(x, device), y


# ---------------------------------------------------------------- comparison inputs, decoded once
def write_input_images(fh, pool: Dataset, pairs: dict, *, batch_size: int = 256, num_workers: int = 0) -> bool:
    """Store the uint8 images of the targets and seeds (``target_images``, ``seed_images``: N×C×H×W,
    row i = ``pool[target_index[i]]`` / ``pool[seed_index[i]]``) in the open HDF5 file ``fh``.

    Returns False and stores nothing when the pool's images are not uint8 (e.g. the digits): jobs then
    read the pool as before."""
    data, exact = as_uint8(pool)
    if not exact:
        return False
    for name, key in ((TARGET_IMAGES, "target_index"), (SEED_IMAGES, "seed_index")):
        indices = np.asarray(pairs[key])
        out = None
        loader = make_loader(_Positions(data, indices), batch_size=batch_size, num_workers=num_workers)
        for x, _, pos in loader:
            if out is None:
                out = fh.create_dataset(name, shape=(len(indices), *x.shape[1:]), dtype="uint8",
                                        chunks=(1, *x.shape[1:]), compression="lzf")
                out.attrs["description"] = (f"uint8 image of pool[{key}[i]] after the eval transform "
                                            "(x / 255 is the model input)")
            out[int(pos[0]):int(pos[-1]) + 1] = x.numpy()
        log.info("stored %d %s (%s)", len(indices), name, "x".join(map(str, out.shape[1:])))
    return True


def has_input_images(path) -> bool:
    from .h5io import open_h5

    with open_h5(path) as fh:
        return TARGET_IMAGES in fh and SEED_IMAGES in fh


def _stored_batches(path, names, n, batch_size, device, rows=None):
    from .h5io import H5Error, open_h5

    first, last = (0, n) if rows is None else rows
    with open_h5(path) as fh:
        for name in names:
            if fh[name].shape[0] != n:
                raise H5Error(f"{path}: '{name}' has {fh[name].shape[0]} rows, expected {n}")
        for start in range(first, last, batch_size):
            stop = min(last, start + batch_size)
            yield slice(start, stop), [to_device(torch.from_numpy(fh[name][start:stop]), device) for name in names]


def pair_batches(inputs, pairs: dict, pool_fn, batch_size: int, *, device="cpu", num_workers: int = 0,
                 rows: Optional[tuple[int, int]] = None):
    """(slice, seeds, targets) of the comparison inputs on ``device``, from ``inputs.h5``'s stored images when
    present, else from the pool (``pool_fn()`` opens it) through DataLoaders. ``rows``: only the pairs
    [start, stop) (an inversion shard), in batches that start at ``start``; slices count from ``start``."""
    n = len(pairs["target_index"])
    start, stop = (0, n) if rows is None else rows
    if not 0 <= start < stop <= n:
        raise ValueError(f"rows [{start}, {stop}) outside the {n} comparison inputs of {inputs}")
    if has_input_images(inputs):
        stored = _stored_batches(inputs, (SEED_IMAGES, TARGET_IMAGES), n, batch_size, device, rows=(start, stop))
        for sl, (seeds, targets) in stored:
            yield slice(sl.start - start, sl.stop - start), seeds, targets
        return
    pool = pool_fn()
    seed_index, target_index = pairs["seed_index"][start:stop], pairs["target_index"][start:stop]
    seeds = image_batches(pool, seed_index, batch_size, device=device, num_workers=num_workers)
    targets = image_batches(pool, target_index, batch_size, device=device, num_workers=num_workers)
    for (pos, s, _), (_, t, _) in zip(seeds, targets):
        yield slice(int(pos[0]), int(pos[-1]) + 1), s, t


def target_batches(inputs, pairs: dict, pool_fn, batch_size: int, *, device="cpu", num_workers: int = 0):
    """(positions, images, labels, index) of the targets, as :func:`robuniv.extract.write_activations` reads."""
    targets, labels = np.asarray(pairs["target_index"]), np.asarray(pairs["target_label"])
    n = len(targets)
    if has_input_images(inputs):
        for sl, (images,) in _stored_batches(inputs, (TARGET_IMAGES,), n, batch_size, device):
            pos = np.arange(sl.start, sl.stop)
            yield pos, images, torch.as_tensor(labels[pos]), targets[pos]
        return
    for pos, x, y in image_batches(pool_fn(), targets, batch_size, device=device, num_workers=num_workers):
        yield pos, x, y, targets[pos]
