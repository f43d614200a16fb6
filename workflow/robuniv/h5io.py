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


def open_h5(path) -> h5py.File:
    """Open an HDF5 file for reading; a missing, truncated or non-HDF5 file raises :class:`H5Error`
    naming it (h5py's own errors do not)."""
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as err:
        raise H5Error(f"{path}: not a readable HDF5 file ({err}); delete it and rerun the job that "
                      "makes it") from err


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
    with open_h5(path) as fh:
        n = _require(fh, path, "target_index", 1).shape[0]
        out = {name: _require(fh, path, name, 1, n)[()] for name in
               ("target_index", "target_label", "seed_index", "seed_label")} | dict(fh.attrs)
    out.setdefault("pool_split", "eval")  # files from before input pools were configurable
    return out


def read_activations(path, *, check_finite: bool = True) -> dict:
    """``representations`` (N×D), ``logits`` (N×C), ``labels``, ``index``, the attributes and the ``path``
    (which later errors name), checked."""
    with open_h5(path) as fh:
        reps = _require(fh, path, "representations", 2)
        n = reps.shape[0]
        out = {"representations": reps[()], "logits": _require(fh, path, "logits", 2, n)[()],
               "labels": _require(fh, path, "labels", 1, n)[()], "index": _require(fh, path, "index", 1, n)[()],
               "attrs": dict(fh.attrs), "path": str(path)}
    if n == 0:
        raise H5Error(f"{path}: no rows")
    if check_finite:
        for name in ("representations", "logits"):
            if not np.isfinite(out[name]).all():
                bad = int((~np.isfinite(out[name])).any(axis=1).sum())
                raise H5Error(f"{path}: '{name}' holds NaN or inf in {bad} row(s)")
    return out


def read_knn(path) -> np.ndarray:
    with open_h5(path) as fh:
        graph = _require(fh, path, "knn", 2)[()]
    if not np.issubdtype(graph.dtype, np.integer):
        raise H5Error(f"{path}: 'knn' holds {graph.dtype}, expected integer neighbour indices")
    return graph
