import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
torch.set_num_threads(min(2, os.cpu_count() or 1))

HAS_CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        # the marker, not the keywords: those hold folder names too (a checkout in .../gpu/ would skip all)
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
