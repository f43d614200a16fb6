"""What the workflow scripts share: logging into the job's log file, device and thread choice, atomic JSON."""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from .atomic import atomic_path


def setup_job(log_path=None, threads: int = 1) -> logging.Logger:
    """Send logging, warnings and stderr (progress bars, tracebacks) to the job's log file."""
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "a", buffering=1)
        sys.stderr = stream
        handler = logging.StreamHandler(stream)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    if "torch" in sys.modules:  # jobs that never import torch (tables) skip its 3 s import
        sys.modules["torch"].set_num_threads(max(1, int(threads)))
    return logging.getLogger("robuniv")


# ------------------------------------------------------------------ GPU placement
# Snakemake limits how many GPU jobs run at once (profiles/local: `resources: gpu=<GPUs>`) but does not say
# which GPU a job should use. Each job therefore claims a GPU here: an exclusive lock on one file per GPU,
# held until the job's process ends (the kernel drops it even on kill -9), so concurrent jobs on one
# machine get different GPUs. Under Slurm each job sees only its own GPU(s) and takes the first.
GPU_LOCK_DIR_ENV = "ROBUNIV_GPU_LOCK_DIR"
_held_slots: list = []  # open lock files of this process's claims (kept open = kept locked)


def _visible_gpu_ids() -> list[str] | None:
    """Entries of CUDA_VISIBLE_DEVICES, or None where it is unset."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip() and v.strip() != "-1"]


def visible_gpu_count() -> int:
    """GPUs this process may use, without importing torch (CUDA_VISIBLE_DEVICES, else the NVIDIA driver)."""
    ids = _visible_gpu_ids()
    if ids is not None:
        return len(ids)
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        return sum(1 for _ in proc.iterdir())
    return 0


def gpu_job_slots() -> int:
    """How many GPU jobs may run at once on this machine (profiles/local): one per GPU; without GPUs the
    GPU rules run on the CPU and only ``--cores`` limits them."""
    return visible_gpu_count() or 1_000_000


def default_gpu_lock_dir() -> Path:
    return Path(os.environ.get(GPU_LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"robuniv-gpu-locks-{os.getuid()}")


def claim_gpu_slot(n_devices: int, keys=None, lock_dir=None, poll_s: float = 1.0, timeout_s: float | None = None,
                   log: logging.Logger | None = None) -> int:
    """Claim one of ``n_devices`` GPUs for the rest of this process; return its index (0 .. n-1).

    ``keys`` name the devices machine-wide (default: CUDA_VISIBLE_DEVICES entries or the indices), so jobs
    that see different subsets of the GPUs still agree on which physical GPU a lock stands for. Waits (logging
    once a minute) while every GPU is held by another job; ``timeout_s`` turns the wait into a TimeoutError.
    """
    import fcntl

    if n_devices < 1:
        raise ValueError("no GPU to claim")
    if keys is None:
        ids = _visible_gpu_ids()
        keys = ids if ids is not None and len(ids) == n_devices else [str(i) for i in range(n_devices)]
    keys = [str(k).replace("/", "_") for k in keys]
    lock_dir = Path(lock_dir) if lock_dir is not None else default_gpu_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    next_note = start
    # Start the scan at a different GPU in each process, so that claims rarely race for the same file.
    offset = os.getpid() % n_devices
    while True:
        for j in range(n_devices):
            i = (offset + j) % n_devices
            fh = open(lock_dir / f"gpu-{keys[i]}.lock", "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                continue
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            _held_slots.append(fh)
            return i
        now = time.monotonic()
        if timeout_s is not None and now - start >= timeout_s:
            raise TimeoutError(f"all {n_devices} GPUs busy for {timeout_s:.0f} s (locks in {lock_dir})")
        if log is not None and now >= next_note:
            log.info("all %d GPUs are held by other jobs (locks in %s); waiting", n_devices, lock_dir)
            next_note = now + 60
        time.sleep(poll_s)


def _declared_gpus() -> int | None:
    """The ``gpu`` resource of the Snakemake job running this script (its ``snakemake`` object), if any."""
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    resources = getattr(job, "resources", None)
    if resources is None:
        return None
    try:
        return int(resources.get("gpu", 0) or 0)
    except (TypeError, ValueError, AttributeError):
        return None


def pick_device(gpus: int | None = None):
    """The device of this job: ``ROBUNIV_DEVICE`` if set (e.g. ``cpu`` on a GPU node); else, where CUDA is
    available, a GPU of its own (see :func:`claim_gpu_slot`); else the CPU.

    ``gpus``: the GPUs the job declared (its rule's ``gpu`` resource; read from the Snakemake job when not
    given). A job that declared none (e.g. a comparison) is not counted by Snakemake's GPU limit, so it claims
    no GPU (it would wait for GPU jobs) and uses the first visible one as a guest.
    """
    import torch

    wanted = os.environ.get("ROBUNIV_DEVICE")
    if wanted:
        return torch.device(wanted)
    if not torch.cuda.is_available():
        return torch.device("cpu")
    n = torch.cuda.device_count()
    if gpus is None:
        gpus = _declared_gpus()
    claim = n > 1 and gpus != 0
    index = claim_gpu_slot(n, log=logging.getLogger("robuniv")) if claim else 0
    torch.cuda.set_device(index)
    logging.getLogger("robuniv").info("device cuda:%d of %d visible GPU(s)%s", index, n,
                                      "" if claim or n == 1 else " (shared: the job declared no GPU)")
    return torch.device(f"cuda:{index}")


def write_json(obj, path) -> None:
    """Write JSON to a temporary file and rename it: a killed job leaves no half-written file."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.write("\n")
