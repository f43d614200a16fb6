"""HDF5 files of the workflow: written batch by batch into a temporary file that is renamed when complete,
so a killed job never leaves a file that looks finished; read back with checks that name the file.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from typing import Iterable, Iterator, Optional, Sequence

import h5py
import numpy as np

from . import __version__
from .atomic import atomic_path, full_disk_error


@contextlib.contextmanager
def atomic_h5(path) -> Iterator[h5py.File]:
    """An HDF5 file open for writing that appears at ``path`` only after the block succeeds."""
    with atomic_path(path) as tmp:
        try:
            with h5py.File(tmp, "w") as fh:
                fh.attrs["robuniv_version"] = __version__
                yield fh
        except (OSError, RuntimeError) as err:
            if full_disk_error(err):  # h5py names the temporary (or nothing): atomic_path names the file
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) from err
            raise


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
    for name in ("representations", "logits"):
        if out[name].dtype.kind not in "fiu":
            raise H5Error(f"{path}: '{name}' holds {out[name].dtype}, expected numbers")
    for name in ("labels", "index"):  # class and row numbers: integers (floats with NaN would pass as labels)
        if out[name].dtype.kind not in "iu":
            raise H5Error(f"{path}: '{name}' holds {out[name].dtype}, expected integers")
    if check_finite:
        for name in ("representations", "logits"):
            if not np.isfinite(out[name]).all():
                bad = int((~np.isfinite(out[name])).any(axis=1).sum())
                raise H5Error(f"{path}: '{name}' holds NaN or inf in {bad} row(s)")
    return out


def content_sha256(representations: np.ndarray, logits: Optional[np.ndarray], index: np.ndarray) -> str:
    """What identifies an activation file's content: sha256 of its representations, logits and index."""
    digest = hashlib.sha256()
    for array in (representations, logits, index):
        if array is not None:
            digest.update(str((array.dtype.str, array.shape)).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def activations_id(act: dict) -> str:
    """The ``content_sha256`` an activation file recorded when written (computed for older files)."""
    recorded = act["attrs"].get("content_sha256")
    if recorded:
        return str(recorded)
    if "content_sha256" not in act:  # an older file: hashed once, however many derived files are checked
        act["content_sha256"] = content_sha256(act["representations"], act.get("logits"), act["index"])
    return act["content_sha256"]


def check_derived(path, recorded: dict, act: dict, what: str) -> None:
    """H5Error naming ``path`` unless the file derived from an activation file (``recorded``: its attributes)
    says it was made from the content of ``act``."""
    made_from = recorded.get("activations_sha256")
    if made_from is not None and str(made_from) != activations_id(act):
        raise H5Error(f"{path}: this {what} was made from other activations than {act.get('path', 'these')} "
                      f"(recorded {recorded.get('activations', '?')}); rerun the job that makes it")


def read_knn(path, activations: Optional[dict] = None, k: int = 0) -> np.ndarray:
    """A kNN graph; with ``activations`` (:func:`read_activations`), checked to be of those activations, and
    to hold at least ``k`` neighbours per input."""
    with open_h5(path) as fh:
        graph = _require(fh, path, "knn", 2)[()]
        attrs = dict(fh.attrs)
    if not np.issubdtype(graph.dtype, np.integer):
        raise H5Error(f"{path}: 'knn' holds {graph.dtype}, expected integer neighbour indices")
    if activations is not None:
        check_derived(path, attrs, activations, "kNN graph")
        n = len(activations["index"])
        if graph.shape[0] != n:
            raise H5Error(f"{path}: a kNN graph of {graph.shape[0]} inputs, the activations have {n}")
    if graph.shape[1] < k:
        raise H5Error(f"{path}: a kNN graph of k={graph.shape[1]}, the comparison needs k up to {k} "
                      "(similarity.jaccard_k); rerun summarise_representations")
    return graph


def write_summary(path, summary, *, activations: dict) -> None:
    """A :class:`robuniv.similarity.RepresentationSummary` with what it was made from."""
    with atomic_h5(path) as fh:
        set_attrs(fh, {"n": summary.n, "dtype": summary.dtype, "sq_norm": summary.sq_norm,
                       "gram_sq_norm": summary.gram_sq_norm, "activations": activations.get("path", ""),
                       "activations_sha256": activations_id(activations),
                       "description": "per-model steps of the pair measures: column means and the power-of-"
                                      "two scale of the centring; of the centred representation X, ||X||^2, "
                                      "||X^T X||^2, squared row norms; RTD distances"})
        fh["sq_row_norms"] = summary.sq_row_norms
        if summary.mean is not None:
            fh["mean"] = summary.mean
            fh.attrs["scale"] = summary.scale
        if summary.rtd is not None:
            fh["rtd_distances"] = summary.rtd["distances"]
            set_attrs(fh["rtd_distances"], {key: summary.rtd[key] for key in ("trials", "batch", "seed")} |
                      {"description": "trials x batch x batch Euclidean distances / their 0.9-quantile"})


def read_summary(path, activations: dict):
    """The summary at ``path``, checked to be of ``activations`` (:func:`read_activations`)."""
    from .similarity import RepresentationSummary

    with open_h5(path) as fh:
        attrs = dict(fh.attrs)
        missing = [k for k in ("n", "dtype", "sq_norm", "gram_sq_norm", "activations_sha256") if k not in attrs]
        if missing:
            raise H5Error(f"{path}: not a representation summary (attributes missing: {', '.join(missing)})")
        rows = _require(fh, path, "sq_row_norms", 1, int(attrs["n"]))[()]
        rtd = None
        if "rtd_distances" in fh:
            data = fh["rtd_distances"]
            rtd = {key: int(data.attrs[key]) for key in ("trials", "batch", "seed")} | {"distances": data[()]}
        mean = fh["mean"][()] if "mean" in fh else None
    check_derived(path, attrs, activations, "summary")
    return RepresentationSummary(n=int(attrs["n"]), dtype=str(attrs["dtype"]), sq_norm=float(attrs["sq_norm"]),
                                 gram_sq_norm=float(attrs["gram_sq_norm"]), sq_row_norms=rows, mean=mean,
                                 scale=float(attrs["scale"]) if mean is not None else None, rtd=rtd)


# ---------------------------------------------------------------- checks and readers of derived files
# What every shard of one model's inversion must share: the model, its checkpoint and the inversion settings.
INVERSION_RUN_ATTRS = ("dataset", "eps", "model", "checkpoint_sha256", "iterations", "step_size", "momentum",
                       "tie_channels", "precision")


class InvertedImages:
    """One model's inverted images, read from its shard files (one per inversion job) as one set of rows.

    Checked when opened: each file is an inversion shard (``images``, ``loss``, ``target_index``,
    ``seed_index``, its rows in the attribute ``shard_rows``); the shards are of one run (the attributes
    :data:`INVERSION_RUN_ATTRS` agree) and cover the rows 0..N once, in order; with ``pairs`` (the comparison
    inputs, :func:`read_inputs`), N and every shard's targets and seeds are theirs. Errors name the file.
    A file without ``shard_rows`` (written before shards) holds all rows.
    """

    def __init__(self, paths, pairs: Optional[dict] = None):
        paths = [paths] if isinstance(paths, (str, bytes)) or not isinstance(paths, Iterable) else list(paths)
        if not paths:
            raise H5Error("no inverted-image files given")
        self.shards, run, expected_start = [], None, 0
        for path in paths:
            with open_h5(path) as fh:
                images = _require(fh, path, "images", 4)
                n = images.shape[0]
                for name in ("loss", "target_index", "seed_index"):
                    _require(fh, path, name, 1, n)
                start, stop = (int(v) for v in fh.attrs.get("shard_rows", (expected_start, expected_start + n)))
                attrs = {key: fh.attrs.get(key) for key in INVERSION_RUN_ATTRS}
                indices = {name: fh[name][()] for name in ("target_index", "seed_index")}
                shape = images.shape[1:]
            if stop - start != n:
                raise H5Error(f"{path}: holds {n} images but its shard_rows say [{start}, {stop})")
            if start != expected_start:
                what = ("it overlaps rows given before it" if start < expected_start else
                        f"rows [{expected_start}, {start}) are missing")
                raise H5Error(f"{path}: its rows start at {start}, expected {expected_start} ({what}); the shards "
                              "of one inversion must be given in order and cover every row once")
            if run is None:
                run, first, self.image_shape = attrs, path, shape
            else:
                differ = [k for k in INVERSION_RUN_ATTRS if not _same(attrs[k], run[k])]
                if differ:
                    raise H5Error(f"{path}: not of the same inversion as {first} (attributes differ: "
                                  f"{', '.join(differ)}); rerun the inversion's shards together")
                if shape != self.image_shape:
                    raise H5Error(f"{path}: images of shape {shape}, {first} has {self.image_shape}")
            if pairs is not None:
                for name, values in indices.items():
                    expected = np.asarray(pairs[name])[start:stop]
                    if values.shape != expected.shape or (values != expected).any():
                        raise H5Error(f"{path}: its {name} differs from the comparison inputs' rows [{start}, {stop})"
                                      " (inverted from other inputs); rerun the inversion from this inputs.h5")
            self.shards.append((str(path), start, stop))
            expected_start = stop
        self.n, self.attrs = expected_start, run
        if pairs is not None and self.n != len(pairs["target_index"]):
            raise H5Error(f"{paths[-1]}: the shards hold {self.n} rows, the comparison inputs "
                          f"{len(pairs['target_index'])}; some shards are missing or of another inputs.h5")

    def __len__(self) -> int:
        return self.n

    def read(self, start: int, stop: int, name: str = "images") -> np.ndarray:
        """Rows [start, stop) of ``images`` or ``loss``, across shard boundaries."""
        parts = []
        for path, first, last in self.shards:
            lo, hi = max(start, first), min(stop, last)
            if lo < hi:
                with open_h5(path) as fh:
                    parts.append(fh[name][lo - first:hi - first])
        return np.concatenate(parts) if parts else np.empty((0,))


def _same(a, b) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _names(act_a: dict, act_b: dict, names: Optional[Sequence[str]]) -> tuple:
    """What errors call the two activation sets: ``names``, else the files they were read from."""
    if names is not None:
        return tuple(names)
    return act_a.get("path", "act_a"), act_b.get("path", "act_b")


def check_same_inputs(act_a: dict, act_b: dict, names: Optional[Sequence[str]] = None) -> None:
    """ValueError naming the second file unless both activation sets are of the same inputs (``index``)."""
    names = _names(act_a, act_b, names)
    index_a, index_b = np.asarray(act_a["index"]), np.asarray(act_b["index"])
    if index_a.shape != index_b.shape or (index_a != index_b).any():
        what = (f"{index_b.shape[0]} inputs vs {index_a.shape[0]}" if index_a.shape != index_b.shape else
                f"first differing row {int(np.flatnonzero(index_a != index_b)[0])}")
        raise ValueError(f"{names[1]}: its inputs differ from {names[0]}'s (index mismatch, {what}); "
                         "rerun the jobs that made them from the same inputs.h5")


def read_probes(paths: Sequence) -> dict:
    """{dataset: {model: (probe logits n_probes × N × C, ε)}} from the probe files (their attributes name
    the data set, model and ε). H5Error naming the file for anything else (an activation file), and when the
    probes of one data set differ in ε or in their inputs (``index``)."""
    probes: dict = {}
    first: dict = {}  # per data set: (path, ε, index) of its first probe file
    for path in paths:
        with open_h5(path) as fh:
            if "logits" not in fh or fh["logits"].ndim != 3 or not {"dataset", "model", "eps"} <= set(fh.attrs):
                raise H5Error(f"{path}: not a probe file (needs 'logits' of n_probes x N x C and the attributes "
                              "dataset, model, eps; an activation file has N x C logits)")
            dataset, model, eps = str(fh.attrs["dataset"]), str(fh.attrs["model"]), float(fh.attrs["eps"])
            logits = fh["logits"][()]
            index = fh["index"][()] if "index" in fh else np.arange(logits.shape[1])  # older files: no index
        if logits.shape[1] != len(index):
            raise H5Error(f"{path}: 'logits' has {logits.shape[1]} inputs but 'index' {len(index)}")
        if dataset in first:
            path0, eps0, index0 = first[dataset]
            if eps != eps0:
                raise H5Error(f"{path}: probes at ε {eps:g}, but {path0} at ε {eps0:g} (same data set {dataset}); "
                              "all probes of a data set must be at one ε")
            if index.shape != index0.shape or (index != index0).any():
                raise H5Error(f"{path}: its inputs differ from {path0}'s (index mismatch); rerun both probes "
                              "on the same regular activations")
        else:
            first[dataset] = (path, eps, index)
        probes.setdefault(dataset, {})[model] = (logits, eps)
    return probes


def read_error_rates(paths: Iterable) -> dict:
    """{(dataset, model, ε): error rate on the compared inputs} from regular-image activation files (their
    logits and labels only: the N x D representations are not read)."""
    out = {}
    for path in paths:
        with open_h5(path) as fh:
            if "logits" not in fh or "labels" not in fh:
                raise H5Error(f"{path}: dataset 'logits' or 'labels' is missing")
            logits, labels, attrs = fh["logits"][()], fh["labels"][()], dict(fh.attrs)
        if len(logits) != len(labels) or len(labels) == 0:
            raise H5Error(f"{path}: {len(logits)} logits rows for {len(labels)} labels")
        error = float((logits.argmax(1) != labels).mean())
        out[(attrs["dataset"], attrs["model"], float(attrs["eps"]))] = error
    return out
