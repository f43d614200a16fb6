"""Multi-GPU training with DistributedDataParallel, launched by ``torchrun`` inside one job.

A training job with ``training.gpus = N > 1`` re-runs itself as ``torchrun --standalone
--nproc_per_node=N -m robuniv.distributed <call.json>``: N processes on one node, one GPU each (NCCL; gloo
on CPU, as the tests do). Every rank builds the same model from the same seed, reads the same resume file
and draws the same epoch permutation; rank r trains on ``global_batch[r::N]`` of each global batch of
``batch_size`` (so the global batch and learning rate are those of a one-GPU run), gradients are averaged
by DDP, and rank 0 alone writes checkpoints (the robustness format, unchanged) and deletes the resume file.

BatchNorm: statistics per rank (per GPU replica), as the paper's code had with ``DataParallel``; the
running statistics that are saved are rank 0's, DDP broadcasts them to the other ranks before each
training forward, and :func:`broadcast_buffers` does so before each PGD attack (the attack runs in eval
mode, as DataParallel's replicas used device 0's statistics). No SyncBatchNorm.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current() -> Context:
    """Rank and world size of this process (0 and 1 without an initialised process group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return Context()


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)


def init_from_env() -> Context:
    """Join the process group that torchrun describes in the environment (NCCL with CUDA, else gloo)."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and os.environ.get("ROBUNIV_DEVICE", "cuda").startswith("cuda")
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if cuda else "gloo")
    return current()


def device_of(device, ctx: Context):
    """This rank's device: ``cuda:LOCAL_RANK`` for a CUDA device under DDP."""
    import torch

    device = torch.device(device)
    if ctx.world > 1 and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    return device


def all_reduce_sum(values, device) -> list[float]:
    import torch
    import torch.distributed as dist

    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_buffers(module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank."""
    import torch.distributed as dist

    for buf in module.buffers():
        dist.broadcast(buf, 0)


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _package_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


def launch(function: str, kwargs: dict, nproc: int, *, stream=None):
    """Run ``function`` ("module:name") with ``kwargs`` (JSON-serialisable) in ``nproc`` processes under
    ``torchrun --standalone``; returns what rank 0's call returned (JSON). ``stream`` (default: the
    current ``sys.stderr``, the job's log file) receives the processes' output."""
    stream = stream if stream is not None else sys.stderr
    with tempfile.TemporaryDirectory(prefix="robuniv-ddp-") as tmp:
        call, result = Path(tmp) / "call.json", Path(tmp) / "result.json"
        call.write_text(json.dumps({"function": function, "kwargs": kwargs, "result": str(result)}, default=str))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_package_root(), *filter(None, [env.get("PYTHONPATH")])])
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "robuniv.distributed", str(call)]
        log.info("launching %d processes: %s", nproc, " ".join(cmd))
        try:
            fileno = stream.fileno()
        except (AttributeError, OSError, ValueError):
            fileno = None
        if hasattr(stream, "flush"):
            stream.flush()
        proc = subprocess.run(cmd, env=env, stdout=fileno, stderr=fileno,
                              capture_output=fileno is None, text=True)
        if fileno is None and (proc.stdout or proc.stderr):
            stream.write((proc.stdout or "") + (proc.stderr or ""))
        if proc.returncode != 0:
            raise RuntimeError(f"torchrun with {nproc} processes failed (exit {proc.returncode}); "
                               "see the log above")
        return json.loads(result.read_text()) if result.exists() else None


def _main(call_path: str) -> None:
    import importlib

    call = json.loads(Path(call_path).read_text())
    ctx = init_from_env()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s rank{ctx.rank} %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if ctx.is_main else logging.WARNING)
    module, name = call["function"].split(":")
    try:
        out = getattr(importlib.import_module(module), name)(**call["kwargs"])
        if ctx.is_main and call.get("result"):
            Path(call["result"]).write_text(json.dumps(out, default=str))
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    _main(sys.argv[1])
