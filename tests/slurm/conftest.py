"""The live-Slurm tests: a one-node Slurm started for the session (tests/slurm/cluster.py).

Skipped unless ROBUNIV_SLURM_TESTS=1 (tests/conftest.py; they take minutes and need Debian's slurm-wlm and munge):
    ROBUNIV_SLURM_TESTS=1 python -m pytest -m slurm tests/slurm -s
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster import local_slurm, missing_commands  # noqa: E402


@pytest.fixture(scope="session")
def slurm_env(tmp_path_factory):
    """The environment (SLURM_CONF) of a running one-node Slurm; stopped after the session."""
    missing = missing_commands()
    if missing:
        pytest.skip(f"Slurm not installed (missing {', '.join(missing)}): apt-get install slurm-wlm munge")
    with local_slurm(tmp_path_factory.mktemp("slurm")) as env:
        yield env
