"""The Snakemake workflow: its plan (dry runs) and the whole demo run on a copy of the repository."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", ".snakemake", "results", "resources", "logs", "benchmarks",
                                "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis")


def snakemake(*args, cwd=ROOT, check=True):
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def planned_jobs(*args, cwd=ROOT) -> dict:
    """Job counts per rule of a dry run."""
    out = snakemake("-n", *args, cwd=cwd).stdout
    if "Nothing to be done" in out:
        return {}
    table = out[out.index("Job stats:"):]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M))
    counts.pop("total", None)
    return {k: int(v) for k, v in counts.items()}


def copy_repo(dest: Path) -> Path:
    shutil.copytree(ROOT, dest, ignore=IGNORE)
    return dest


def test_dry_run_of_demo_plans_every_stage(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    jobs = planned_jobs(cwd=repo)
    assert jobs["prepare_dataset"] == 1
    assert jobs["train_model"] == 12 and jobs["evaluate_model"] == 12
    assert jobs["accuracy_table"] == 1
    assert "download_checkpoint" not in jobs


def test_paper_config_plans_downloads_and_training(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    # A dry run needs no data: only the plan is checked. The paper config replaces the demo's.
    cfg = yaml.safe_load((repo / "configs" / "imagenet1k.yaml").read_text())
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = planned_jobs(cwd=repo)
    # 4 architectures with all 5 ε released, 3 with ε 0 and 3 released: 26 downloads, 9 trained models.
    assert jobs["download_checkpoint"] == 4 * 5 + 3 * 2
    assert jobs["train_model"] == 3 * 3
    assert jobs["evaluate_model"] == 7 * 5


def test_bad_config_key_stops_with_its_name(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["datasets"]["digits"]["models"]["resnet18"]["widht"] = 0.5
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", cwd=repo, check=False)
    assert proc.returncode != 0
    assert "widht" in proc.stdout + proc.stderr


def test_unknown_architecture_stops_the_plan(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["datasets"]["digits"]["models"]["resnet18"]["arch"] = "resnet19"
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake("-n", cwd=repo, check=False)
    assert proc.returncode != 0
    assert "unknown architecture 'resnet19'" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory):
    """The shipped demo, run once end to end on a copy of the repository."""
    repo = copy_repo(tmp_path_factory.mktemp("demo") / "repo")
    snakemake("-c", "2", cwd=repo)
    return repo


@pytest.mark.slow
def test_demo_accuracies(finished_demo):
    table = pd.read_csv(finished_demo / "results" / "tables" / "accuracy.csv")
    assert list(table.columns) == ["dataset", "model", "arch", "eps", "clean_accuracy", "adversarial_accuracy",
                                   "attack_eps", "attack_steps"]
    assert len(table) == 12 + 9  # own attack for all 12 models, the fixed ε=1 attack for the 9 with ε != 1
    standard = table[table.eps == 0].drop_duplicates("model")
    assert (standard.clean_accuracy >= 0.90).all(), standard
    fixed = table[table.attack_eps == 1.0].groupby("eps").adversarial_accuracy.mean()
    assert list(fixed.index) == [0.0, 0.25, 0.5, 1.0]
    assert fixed.is_monotonic_increasing and fixed[1.0] - fixed[0.0] > 0.15, fixed
    for path in (finished_demo / "results" / "digits").glob("eps*/models/*.ckpt"):
        assert path.stat().st_size > 0


@pytest.mark.slow
def test_finished_demo_plans_nothing(finished_demo):
    assert planned_jobs(cwd=finished_demo) == {}
