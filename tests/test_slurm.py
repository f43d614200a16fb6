"""The profiles without a cluster: both dry-run on a machine without conda, and the Slurm profile groups the
many short jobs. The live Slurm run is tests/slurm/test_live_slurm.py (ROBUNIV_SLURM_TESTS=1)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".snakemake", "results", "resources", "logs", "benchmarks",
                                "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis")


def no_conda_env(tmp_path):
    """PATH without any conda/mamba (as on a fresh machine), robuniv from this checkout."""
    keep = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if not any((Path(d) / exe).exists() for exe in ("conda", "mamba", "micromamba"))]
    bindir = tmp_path / "bin"  # python itself, wherever it lives
    bindir.mkdir()
    (bindir / "python3").symlink_to(sys.executable)
    return dict(os.environ, PATH=os.pathsep.join([str(bindir), *keep]), PYTHONPATH=str(ROOT / "workflow"))


def dry_run(repo, env, *args):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return Path(shutil.copytree(ROOT, tmp_path_factory.mktemp("profiles") / "repo", ignore=IGNORE))


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profile_dry_runs_without_conda(profile, repo, tmp_path):
    env = no_conda_env(tmp_path)
    assert shutil.which("conda", path=env["PATH"]) is None
    out = dry_run(repo, env, "--profile", f"profiles/{profile}")
    assert "conda" not in out.lower().replace("conda:", "")  # no "Error running conda info"
    assert re.search(r"^total\s+\d+$", out, flags=re.M)


def test_profiles_leave_software_deployment_off():
    for profile in ("local", "slurm"):
        text = (ROOT / "profiles" / profile / "config.yaml").read_text()
        active = [ln for ln in text.splitlines() if ln.startswith("software-deployment-method")]
        assert not active, (profile, active)


def test_slurm_profile_groups_the_short_jobs(repo, tmp_path):
    out = dry_run(repo, no_conda_env(tmp_path), "--profile", "profiles/slurm")
    groups = re.findall(r"Group job (\w+) \(jobs", out)
    extraction = int(re.search(r"^extract_activations\s+(\d+)$", out, flags=re.M).group(1))
    # The demo's 48 extraction jobs go to Slurm as 6 group jobs of at most 8; comparisons likewise.
    assert groups.count("extract") == -(-extraction // 8), groups
    assert "compare" in groups and "subgroups" in groups


def test_slurm_profile_names_only_workflow_rules_or_announced_ones():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    # Snakemake ignores rule names it does not know in `groups` and `set-resources`: a typo would go unnoticed.
    announced = set()
    rules = set(re.findall(r"^rule (\w+):", "\n".join(p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")),
                           flags=re.M))
    named = set(profile["set-resources"]) | set(profile["groups"])
    assert named <= rules | announced, named - rules - announced
