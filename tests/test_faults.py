"""Kill -9 and resume (issue 10): a job killed at any point leaves no file that looks finished, its rerun
removes the stale temporaries and gives exactly what an uninterrupted run gives.

Each job runs in a real Python subprocess that is killed with SIGKILL: training after its first epoch's
resume checkpoint appears; inversion and comparison while their output's temporary file is half written
(a hook in the child pauses it there, so the kill lands mid-write every time).
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import robuniv
from robuniv import jobs
from robuniv import settings as st
from robuniv.checkpoints import read_checkpoint, save_robustness_checkpoint
from robuniv.models import create_model
from robuniv.training import seed_everything

WORKFLOW = Path(robuniv.__file__).resolve().parents[1]  # the robuniv under test, also in the children
SOURCE = {"source": "sklearn_digits"}
MODEL_A = st.ModelSettings(arch="resnet18", width=0.125, seed=0)
MODEL_B = st.ModelSettings(arch="vgg16_bn", width=0.125, seed=0)
DS = st.DatasetSettings(n_inputs=40, batch_size=8)

PRELUDE = """
import json, sys, time
import torch
torch.set_num_threads(1)
args = json.loads(sys.argv[1])

def pause_here(marker):
    # the parent kills this process while it waits here
    open(marker, "w").close()
    time.sleep(600)
"""

TRAIN = """
from torch.utils.data import TensorDataset
from robuniv.data import load_split
from robuniv.models import create_model
from robuniv.training import TrainSettings, seed_everything, train_model

x, y = load_split("sklearn_digits", "train").tensors
data = TensorDataset(x[:256], y[:256])
settings = TrainSettings(epochs=3, batch_size=64, lr=0.05, lr_step=2, eps=0.25, seed=1)
seed_everything(0)
net = create_model("resnet18", 10, variant="cifar", width=0.125, image_size=8)
summary = train_model(net, data, settings, checkpoint_path=args["out"], resume_path=args["resume"],
                      identity={"test": "faults"})
print(json.dumps({"resumed_from_epoch": summary["resumed_from_epoch"]}))
"""

INVERT = """
from robuniv import inversion, jobs

if args["marker"]:
    real, calls = inversion.invert, []

    def invert(*a, **k):
        calls.append(1)
        if len(calls) == 3:  # two batches are in the temporary file, the third is being made
            pause_here(args["marker"])
        return real(*a, **k)
    inversion.invert = invert
from robuniv import settings as st

jobs.invert_images(args["ckpt"], args["inputs"], {"source": "sklearn_digits"}, st.from_params(st.ModelSettings, args["model"]),
                   st.InversionSettings(iterations=10), st.build(st.DatasetSettings, args["ds"]), dataset="digits",
                   model_name="a", eps=0, out=args["out"], device="cpu")
"""

COMPARE = """
import csv
import types
from robuniv import jobs, pair_rows
from robuniv.settings import SimilaritySettings

if args["marker"]:
    class HalfWriter:  # half the table is on disk when the job is killed
        def __init__(self, fh, **options):
            self.fh, self.writer = fh, csv.writer(fh, **options)

        def writerow(self, row):
            self.writer.writerow(row)

        def writerows(self, rows):
            rows = list(rows)
            self.writer.writerows(rows[: len(rows) // 2])
            self.fh.flush()
            pause_here(args["marker"])
    pair_rows.csv = types.SimpleNamespace(writer=HalfWriter)
settings = SimilaritySettings(jaccard_k=(5, 10), rtd_trials=1, rtd_batch=20, rtd_seed=0, rtd=False)
jobs.compare_models(args["act_a"], args["act_b"], args["knn_a"], args["knn_b"], settings, inputs="regular",
                    dataset="digits", eps=0, model_a="a", model_b="b", out=args["out"], device="cpu", threads=1)
"""


def _env():
    env = dict(os.environ, PYTHONPATH=str(WORKFLOW), ROBUNIV_DEVICE="cpu", HDF5_USE_FILE_LOCKING="FALSE",
               OMP_NUM_THREADS="1")
    return env


def _start(body: str, args: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(body), json.dumps(args)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(body: str, args: dict) -> str:
    proc = _start(body, args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


def kill_when(body: str, args: dict, ready, timeout: float = 120) -> None:
    """Start the job, SIGKILL it as soon as ``ready()`` holds; fail if it ends by itself first."""
    proc = _start(body, args)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the job ended (rc {proc.returncode}) before it could be killed:\n"
                            f"{proc.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the job never reached the point to kill it at")
            time.sleep(0.005)
        assert proc.poll() is None, "the job ended before the kill"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*") if p.is_file())


# ---------------------------------------------------------------- training
def test_training_killed_after_an_epoch_resumes_to_the_same_weights(tmp_path):
    ref = tmp_path / "ref" / "m.ckpt"
    run(TRAIN, {"out": str(ref), "resume": str(tmp_path / "ref" / ".resume" / "m.ckpt")})

    out, resume = tmp_path / "run" / "m.ckpt", tmp_path / "run" / ".resume" / "m.ckpt"
    args = {"out": str(out), "resume": str(resume)}
    kill_when(TRAIN, args, resume.is_file)
    assert not out.exists()  # killed before the end: no final checkpoint
    assert read_checkpoint(resume)["epoch"] >= 1  # the resume checkpoint is complete

    summary = json.loads(run(TRAIN, args).strip().splitlines()[-1])
    assert summary["resumed_from_epoch"] >= 1
    assert not resume.exists() and temporaries(tmp_path / "run") == []
    a, b = read_checkpoint(ref), read_checkpoint(out)
    assert a["model"].keys() == b["model"].keys()
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["robuniv"]["history"] == b["robuniv"]["history"]  # losses and accuracies of every epoch


# ---------------------------------------------------------------- inversion and comparison
@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    files = {"inputs": root / "inputs.h5"}
    jobs.prepare_inputs(SOURCE, DS, "digits", files["inputs"])
    for name, model in (("a", MODEL_A), ("b", MODEL_B)):
        seed_everything(model.seed)
        ckpt = files[f"ckpt_{name}"] = root / f"{name}.ckpt"
        save_robustness_checkpoint(ckpt, create_model(**jobs.model_spec(SOURCE, model)), epoch=1)
        act = files[f"act_{name}"] = root / f"act_{name}.h5"
        jobs.extract_activations(ckpt, files["inputs"], SOURCE, model, DS, dataset="digits", model_name=name, eps=0,
                                 input_set="regular", out=act, device="cpu")
        jobs.build_knn_graph(act, 10, root / f"knn_{name}.h5", device="cpu")
        files[f"knn_{name}"] = root / f"knn_{name}.h5"
    return {k: str(v) for k, v in files.items()}


def h5_contents(path) -> dict:
    with h5py.File(path, "r") as fh:
        data = {name: fh[name][()] for name in fh}
        attrs = {k: v for k, v in fh.attrs.items()}
    return {"data": data, "attrs": attrs}


def test_inversion_killed_mid_write_leaves_nothing_and_reruns_identically(tmp_path, made):
    args = {"ckpt": made["ckpt_a"], "inputs": made["inputs"], "model": st.as_params(MODEL_A),
            "ds": dataclasses.asdict(DS)}  # with batch_size (an execution field: not in params)
    ref = tmp_path / "ref" / "a.h5"
    run(INVERT, {**args, "out": str(ref), "marker": ""})

    out, marker = tmp_path / "run" / "a.h5", tmp_path / "paused"
    job = {**args, "out": str(out), "marker": str(marker)}
    kill_when(INVERT, job, marker.exists)
    assert not out.exists()
    stale = temporaries(out.parent)
    assert len(stale) == 1 and stale[0].startswith(".a.h5.") and (out.parent / stale[0]).stat().st_size > 0

    run(INVERT, {**job, "marker": ""})
    assert temporaries(out.parent) == []  # the rerun removed the killed job's temporary
    a, b = h5_contents(ref), h5_contents(out)
    assert a["data"].keys() == b["data"].keys() == {"images", "loss", "target_index", "seed_index", "target_label"}
    for name in a["data"]:
        assert np.array_equal(a["data"][name], b["data"][name]), name
    assert a["attrs"].keys() == b["attrs"].keys()
    for key in a["attrs"]:
        assert np.array_equal(a["attrs"][key], b["attrs"][key]), key


def test_comparison_killed_mid_write_leaves_nothing_and_reruns_identically(tmp_path, made):
    args = {k: made[k] for k in ("act_a", "act_b", "knn_a", "knn_b")}
    ref = tmp_path / "ref" / "a__b.csv"
    run(COMPARE, {**args, "out": str(ref), "marker": ""})

    out, marker = tmp_path / "run" / "a__b.csv", tmp_path / "paused"
    job = {**args, "out": str(out), "marker": str(marker)}
    kill_when(COMPARE, job, marker.exists)
    assert not out.exists()
    stale = temporaries(out.parent)
    assert len(stale) == 1 and stale[0].startswith(".a__b.csv.")
    half = (out.parent / stale[0]).read_text()
    assert half and ref.read_text().startswith(half) and half != ref.read_text()  # killed mid-write

    run(COMPARE, {**job, "marker": ""})
    assert temporaries(out.parent) == []
    assert out.read_bytes() == ref.read_bytes()
