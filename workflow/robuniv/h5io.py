"""HDF5 files of the workflow: written batch by batch into a temporary file that is renamed when complete,
so a killed job never leaves a file that looks finished; read back with checks that name the file.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import h5py
import numpy as np

from . import __version__
from .atomic import atomic_path


@contextlib.contextmanager
def atomic_h5(path) -> Iterator[h5py.File]:
    """An HDF5 file open for writing that appears at ``path`` only after the block succeeds."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs["robuniv_version"] = __version__
        yield fh


def set_attrs(obj, attrs: dict) -> None:
    for key, value in attrs.items():
        obj.attrs[key] = "" if value is None else value


class H5Error(ValueError):
    """An HDF5 file is missing a dataset, has the wrong shape, or holds NaN/inf; names the file."""


def _require(fh, path, name, ndim=None, rows=None):
    if name not in fh:
        raise H5Error(f"{path}: dataset '{name}' is missing")
    data = fh[name]
    if ndim is not None and data.ndim != ndim:
        raise H5Error(f"{path}: dataset '{name}' should be {ndim}-D, has shape {data.shape}")
    if rows is not None and data.shape[0] != rows:
        raise H5Error(f"{path}: dataset '{name}' has {data.shape[0]} rows, expected {rows}")
    return data


def read_inputs(path) -> dict:
    """Target and seed indices and labels of a data set's comparison inputs."""
    with h5py.File(path, "r") as fh:
        n = _require(fh, path, "target_index", 1).shape[0]
        return {name: _require(fh, path, name, 1, n)[()] for name in
                ("target_index", "target_label", "seed_index", "seed_label")} | dict(fh.attrs)


def read_activations(path, *, check_finite: bool = True) -> dict:
    """``representations`` (N×D), ``logits`` (N×C), ``labels``, ``index`` and the attributes, checked."""
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise H5Error(f"{path}: not a readable HDF5 file ({err})") from err
    with fh:
        reps = _require(fh, path, "representations", 2)
        n = reps.shape[0]
        out = {"representations": reps[()], "logits": _require(fh, path, "logits", 2, n)[()],
               "labels": _require(fh, path, "labels", 1, n)[()], "index": _require(fh, path, "index", 1, n)[()],
               "attrs": dict(fh.attrs)}
    if n == 0:
        raise H5Error(f"{path}: no rows")
    if check_finite:
        for name in ("representations", "logits"):
            if not np.isfinite(out[name]).all():
                bad = int((~np.isfinite(out[name])).any(axis=1).sum())
                raise H5Error(f"{path}: '{name}' holds NaN or inf in {bad} row(s)")
    return out


def read_knn(path) -> np.ndarray:
    with h5py.File(path, "r") as fh:
        graph = _require(fh, path, "knn", 2)[()]
    return graph
