import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
torch.set_num_threads(min(2, os.cpu_count() or 1))

HAS_CUDA = torch.cuda.is_available()
HAS_LIVE_SLURM = os.environ.get("ROBUNIV_SLURM_TESTS") == "1"  # tests/slurm: minutes, Debian's slurm-wlm and munge


def pytest_collection_modifyitems(config, items):
    skips = {"gpu": None if HAS_CUDA else pytest.mark.skip(reason="needs a CUDA device"),
             "slurm": None if HAS_LIVE_SLURM else pytest.mark.skip(reason="live Slurm test: set ROBUNIV_SLURM_TESTS=1")}
    for item in items:
        # by marker, not keyword: keywords hold folder names and parametrize ids too (.../gpu/, [slurm])
        for marker, skip in skips.items():
            if skip is not None and item.get_closest_marker(marker) is not None:
                item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
