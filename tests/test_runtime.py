"""GPU placement (robuniv.runtime): concurrent jobs on one machine each get a GPU of their own; on CPU."""
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from robuniv import runtime

ROOT = Path(__file__).resolve().parents[1]

# A job that sees N (simulated) CUDA devices: pick_device with torch.cuda patched, then hold the device.
JOB = textwrap.dedent("""
    import sys, time, torch
    from robuniv import runtime
    n = int(sys.argv[1])
    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: n
    torch.cuda.set_device = lambda i: None
    device = runtime.pick_device()
    print(device, flush=True)
    sys.stdin.read()  # hold the device until the test closes stdin
""")


def start_job(n_devices, lock_dir, extra_env=None):
    env = dict(os.environ, ROBUNIV_GPU_LOCK_DIR=str(lock_dir), PYTHONPATH=str(ROOT / "workflow"), **(extra_env or {}))
    env.pop("ROBUNIV_DEVICE", None)
    return subprocess.Popen([sys.executable, "-c", JOB, str(n_devices)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_jobs_get_distinct_gpus_and_a_later_job_waits_for_one(tmp_path):
    jobs = [start_job(3, tmp_path) for _ in range(3)]
    devices = [job.stdout.readline().strip() for job in jobs]
    assert sorted(devices) == ["cuda:0", "cuda:1", "cuda:2"], devices
    waiting = start_job(3, tmp_path)  # all three GPUs are held: it waits
    time.sleep(3)
    assert waiting.poll() is None
    freed = devices[1]
    jobs[1].stdin.close()
    jobs[1].wait(timeout=30)
    assert waiting.stdout.readline().strip() == freed  # it takes the GPU the finished job left
    for job in jobs[::2] + [waiting]:
        job.stdin.close()
        job.wait(timeout=30)


def test_killed_job_frees_its_gpu(tmp_path):
    first = start_job(2, tmp_path)
    second = start_job(2, tmp_path)
    got = {first.stdout.readline().strip(), second.stdout.readline().strip()}
    assert got == {"cuda:0", "cuda:1"}
    first.kill()  # no clean-up code runs: the kernel drops the lock
    first.wait()
    third = start_job(2, tmp_path)
    assert third.stdout.readline().strip() in got
    for job in (second, third):
        job.stdin.close()
        job.wait(timeout=30)


def test_claim_times_out_when_all_gpus_are_held(tmp_path):
    holder = start_job(2, tmp_path)
    other = start_job(2, tmp_path)
    holder.stdout.readline(), other.stdout.readline()
    with pytest.raises(TimeoutError):
        runtime.claim_gpu_slot(2, lock_dir=tmp_path, poll_s=0.1, timeout_s=0.5)
    for job in (holder, other):
        job.stdin.close()
        job.wait(timeout=30)


def test_locks_are_per_physical_gpu(tmp_path, monkeypatch):
    # Two jobs that see different GPUs (CUDA_VISIBLE_DEVICES=2,3 and 3,5) never share physical GPU 3.
    a = start_job(2, tmp_path, {"CUDA_VISIBLE_DEVICES": "2,3"})
    b = start_job(2, tmp_path, {"CUDA_VISIBLE_DEVICES": "3,5"})
    got = {"a": a.stdout.readline().strip(), "b": b.stdout.readline().strip()}
    physical = {"a": ["2", "3"][int(got["a"][-1])], "b": ["3", "5"][int(got["b"][-1])]}
    assert physical["a"] != physical["b"], (got, physical)
    assert {p.name for p in tmp_path.iterdir()} <= {"gpu-2.lock", "gpu-3.lock", "gpu-5.lock"}
    for job in (a, b):
        job.stdin.close()
        job.wait(timeout=30)


def test_single_gpu_and_cpu_need_no_lock(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("ROBUNIV_GPU_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("ROBUNIV_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: None)
    assert runtime.pick_device() == torch.device("cuda:0")  # Slurm's --gpus=1: the job's only GPU
    assert not (tmp_path / "locks").exists()
    monkeypatch.setenv("ROBUNIV_DEVICE", "cpu")
    assert runtime.pick_device() == torch.device("cpu")


@pytest.mark.parametrize("visible, expected", [("0,1,2", 3), ("", 1_000_000), ("-1", 1_000_000), ("3", 1)])
def test_gpu_job_slots_follow_visible_devices_and_match_the_local_profile(visible, expected, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert runtime.gpu_job_slots() == expected
    # profiles/local inlines the same count (YTE), so that it loads without robuniv.
    import yte

    with open(ROOT / "profiles" / "local" / "config.yaml") as fh:
        profile = yte.process_yaml(fh, require_use_yte=True)
    assert profile["resources"]["gpu"] == expected


def test_job_that_declared_no_gpu_claims_none(tmp_path):
    # The Snakemake script's `snakemake` object says gpu=0 (a comparison): it uses GPU 0 as a guest, no lock.
    holders = [start_job(2, tmp_path) for _ in range(2)]
    assert {h.stdout.readline().strip() for h in holders} == {"cuda:0", "cuda:1"}
    script = textwrap.dedent("""
        import types, torch
        from robuniv import runtime
        torch.cuda.is_available = lambda: True
        torch.cuda.device_count = lambda: 2
        torch.cuda.set_device = lambda i: None
        snakemake = types.SimpleNamespace(resources={"gpu": 0})
        print(runtime.pick_device())
    """)
    env = dict(os.environ, ROBUNIV_GPU_LOCK_DIR=str(tmp_path), PYTHONPATH=str(ROOT / "workflow"))
    env.pop("ROBUNIV_DEVICE", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "cuda:0", out.stderr
    for h in holders:
        h.stdin.close()
        h.wait(timeout=30)
