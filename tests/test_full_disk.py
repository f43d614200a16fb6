"""A full disk: every writer names the file it was making and leaves nothing that looks finished (issue 18).

On a real full file system (a 256 kB tmpfs, where the test may mount one) and, everywhere, with the disk-full
errors injected where the writers meet them: ENOSPC from a write, and HDF5's own RuntimeError form of it.
"""
from __future__ import annotations

import errno
import json
import subprocess

import h5py
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from robuniv.h5io import atomic_h5
from robuniv.plots import save
from robuniv.runtime import write_json
from robuniv.settings import FigureSettings
from robuniv.tables import write_csv


def write_h5(path):
    with atomic_h5(path) as fh:
        fh["x"] = np.random.default_rng(0).random((300, 300))


def write_table(path):
    write_csv(pd.DataFrame({"a": np.arange(100_000)}), path)


def write_record(path):
    write_json({"a": "x" * 1_000_000}, path)


def write_figure(path):
    fig, ax = plt.subplots(figsize=(20, 20))
    ax.imshow(np.random.default_rng(0).random((1500, 1500)))
    save(fig, {"png": path}, FigureSettings(dpi=100))


WRITERS = {"hdf5": (write_h5, "a.h5"), "csv": (write_table, "a.csv"), "json": (write_record, "a.json"),
           "figure": (write_figure, "a.png")}


def _check(writer, path):
    with pytest.raises(OSError, match=rf"^\[Errno {errno.ENOSPC}\] {path}: the disk is full") as info:
        writer(path)
    assert info.value.errno == errno.ENOSPC
    assert list(path.parent.iterdir()) == []  # neither the file nor its temporary


@pytest.fixture
def full_fs(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()}); the injected cases still run")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("kind", WRITERS)
def test_real_full_disk_names_the_file(full_fs, kind):
    writer, name = WRITERS[kind]
    _check(writer, full_fs / name)


@pytest.mark.parametrize("kind", WRITERS)
def test_injected_full_disk_names_the_file(tmp_path, monkeypatch, kind):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    targets = {"csv": (pd.DataFrame, "to_csv"), "json": (json, "dump"), "figure": (plt.Figure, "savefig")}
    if kind == "hdf5":  # h5py's RuntimeError form (older versions) of the same failure
        def full(*args, **kwargs):  # noqa: F811
            raise RuntimeError("Can't write data (file write failed: errno = 28, error message = 'No space left "
                               "on device')")
        monkeypatch.setattr(h5py.Group, "__setitem__", full)
    else:
        monkeypatch.setattr(*targets[kind], full)
    writer, name = WRITERS[kind]
    _check(writer, tmp_path / name)
