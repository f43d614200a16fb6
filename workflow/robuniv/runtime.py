"""What the workflow scripts share: logging into the job's log file, device and thread choice, atomic JSON."""
from __future__ import annotations

import json
import logging
import os
import sys
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


def pick_device():
    """CUDA when available; ``ROBUNIV_DEVICE`` overrides (e.g. ``cpu`` on a GPU node)."""
    import torch

    wanted = os.environ.get("ROBUNIV_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def write_json(obj, path) -> None:
    """Write JSON to a temporary file and rename it: a killed job leaves no half-written file."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.write("\n")
