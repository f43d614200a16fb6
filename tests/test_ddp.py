"""DDP (gloo, 2 CPU processes) equals a one-process run with the same global batch.

The equality test uses a network without BatchNorm: with BatchNorm in train mode each rank normalises with
its own half-batch's statistics (per-replica BN, as the paper's DataParallel), which legitimately differs
from the global batch's. Tolerance: |w_ddp - w_single| <= 1e-5 after 6 adversarial SGD steps (the two
differ only in the order of floating-point sums: per-rank sums all-reduced vs one sum).
"""
import json
import os

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

from robuniv.checkpoints import MODEL_PREFIX, read_checkpoint
from robuniv.models import Classifier
from robuniv.training import TrainSettings, seed_everything, train_model

SETTINGS = TrainSettings(epochs=2, batch_size=32, lr=0.05, lr_step=1, eps=0.5, attack_steps=2, seed=4)
TOLERANCE = 1e-5


class NoBN(nn.Module):
    num_features = 16

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 16, 16)
        self.fc = nn.Linear(16, 4)

    def forward_features(self, x):
        return torch.relu(self.fc1(nn.functional.avg_pool2d(torch.relu(self.conv(x)), 2).flatten(1)))

    def forward_head(self, f):
        return self.fc(f)


def make_model():
    seed_everything(0)
    return Classifier(NoBN(), "nobn", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def data():
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(96, 3, 8, 8, generator=g), torch.randint(0, 4, (96,), generator=g))


def _worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        train_model(make_model(), data(), SETTINGS, checkpoint_path=os.path.join(out_dir, "ddp.ckpt"),
                    resume_path=os.path.join(out_dir, "resume.ckpt"))
    finally:
        dist.destroy_process_group()


def test_ddp_two_processes_equal_one_process(tmp_path):
    single = make_model()
    train_model(single, data(), SETTINGS, checkpoint_path=tmp_path / "single.ckpt")
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ddp = read_checkpoint(tmp_path / "ddp.ckpt")
    ref = read_checkpoint(tmp_path / "single.ckpt")
    assert not (tmp_path / "resume.ckpt").exists()  # rank 0 removed it after the final checkpoint
    worst = max(float((ddp["model"][k] - v).abs().max()) for k, v in ref["model"].items() if v.is_floating_point())
    print(f"DDP (2 gloo processes) vs one process, 6 adversarial SGD steps: max |dw| = {worst:.2e}")
    assert worst <= TOLERANCE
    initial = make_model().net.state_dict()
    moved = max(float((v - initial[k[len(MODEL_PREFIX):]]).abs().max())
                for k, v in ref["model"].items() if k.startswith(MODEL_PREFIX))
    assert moved > 100 * TOLERANCE  # the weights did change
    h_ddp, h_ref = (json.loads(c["robuniv"]["history"]) for c in (ddp, ref))
    assert [h["epoch"] for h in h_ddp] == [1, 2]
    assert h_ddp[-1]["loss"] == pytest.approx(h_ref[-1]["loss"], rel=1e-5)
    assert h_ddp[-1]["train_accuracy"] == pytest.approx(h_ref[-1]["train_accuracy"])


def test_train_job_launches_torchrun_with_two_processes(tmp_path, monkeypatch):
    from robuniv import jobs

    monkeypatch.setenv("ROBUNIV_DEVICE", "cpu")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    source = {"source": "sklearn_digits"}
    from robuniv import settings as st

    model = st.ModelSettings(arch="resnet18", width=0.125)
    training = st.TrainSettings(epochs=1, batch_size=128, lr_step=1, gpus=2)
    out, resume = tmp_path / "m.ckpt", tmp_path / "resume" / "m.ckpt"
    summary = jobs.train(source, model, training, dataset="digits", model_name="resnet18", out=out, resume=resume,
                         device="cpu")
    assert [h["epoch"] for h in summary["history"]] == [1]
    assert out.exists() and not resume.exists()
    net = jobs.load_model(out, source, model)
    assert net(torch.rand(2, 3, 8, 8)).shape == (2, 10)
