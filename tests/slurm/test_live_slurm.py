"""The workflow through a live one-node Slurm with `--profile profiles/slurm` (docs/cluster.md's quick start).

    ROBUNIV_SLURM_TESTS=1 python -m pytest -m slurm tests/slurm -s     # minutes; needs slurm-wlm and munge

The run uses tests/slurm/config.yaml (a few-minute digits workflow, GPU requests mapped off) and the test
cluster's site settings (--workflow-profile tests/slurm/profile: squeue status queries, 2 CPUs per job).
"""
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IGNORE = shutil.ignore_patterns(".git", ".snakemake", "results", "resources", "logs", "benchmarks",
                                "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis")
ADDED_MODEL = ("densenet121", {"arch": "densenet121", "width": 0.125, "seed": 0})
# Jobs over all models (tables, figures): they rerun when a model is added.
AGGREGATES = {"accuracy_table", "similarity_tables", "figures", "plot_figures", "analysis_tables",
              "analysis_figures", "figure_inversions", "all"}


def quickstart_commands() -> list[list[str]]:
    """The snakemake command lines of docs/cluster.md's quick start (between the quickstart markers)."""
    text = (ROOT / "docs" / "cluster.md").read_text()
    block = text.split("<!-- quickstart -->", 1)[1].split("<!-- /quickstart -->", 1)[0]
    lines = [ln.split("#", 1)[0].strip() for ln in block.splitlines()]
    return [shlex.split(ln) for ln in lines if ln.startswith("snakemake ")]


def snakemake(repo, env, args, name):
    """Run `snakemake ARGS --workflow-profile tests/slurm/profile` in the copy; keep its log in logs_slurm/."""
    cmd = [sys.executable, "-m", "snakemake", *args, "--workflow-profile", str(repo / "tests/slurm/profile")]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    logdir = repo / "logs_slurm"
    logdir.mkdir(exist_ok=True)
    (logdir / f"{name}.log").write_text(out)
    summary = summarize(out)
    print(f"\n=== {name}: snakemake {' '.join(args)} -> rc {proc.returncode} in {time.monotonic() - start:.0f} s; "
          f"{summary['submitted']} Slurm submissions, {len(summary['groups'])} group jobs "
          f"({', '.join(sorted(set(summary['groups'])))}), local jobs {summary['local']}")
    for line in out.splitlines():
        if "has been submitted with SLURM jobid" in line or "Group job" in line or "Nothing to be done" in line:
            print("   ", line)
    assert proc.returncode == 0, out[-5000:]
    return out, summary


def summarize(out: str) -> dict:
    return {"submitted": len(re.findall(r"has been submitted with SLURM jobid", out)),
            "groups": re.findall(r"Group job (\w+) \(jobs", out),
            "local": sorted(re.findall(r"^\s*localrule (\w+):", out, flags=re.M)),
            "nothing": "Nothing to be done" in out}


def planned(out: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job in a dry run's log."""
    jobs = []
    for block in re.split(r"\n\s*\n", out):
        m = re.search(r"^\s*(?:local)?rule (\w+):", block, flags=re.M)
        if m:
            w = re.search(r"^\s*wildcards: (.*)$", block, flags=re.M)
            jobs.append((m.group(1), w.group(1) if w else ""))
    return jobs


@pytest.fixture(scope="module")
def repo(tmp_path_factory, slurm_env):
    repo = tmp_path_factory.mktemp("live") / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORE)
    shutil.copy(HERE / "config.yaml", repo / "config.yaml")
    return repo


@pytest.fixture(scope="module")
def env(slurm_env, repo):
    # The copy's library, also inside the Slurm jobs (sbatch --export=ALL).
    return dict(slurm_env, PYTHONPATH=str(repo / "workflow"), HDF5_USE_FILE_LOCKING="FALSE")


def test_quickstart_runs_everything_then_plans_nothing_then_only_a_new_model(repo, env):
    commands = quickstart_commands()
    assert commands and all(c[:3] == ["snakemake", "--profile", "profiles/slurm"] for c in commands), commands
    t0 = time.monotonic()
    for i, cmd in enumerate(commands):
        out, summary = snakemake(repo, env, cmd[1:], f"quickstart{i}")
    full = summary
    tables = repo / "results/digits/tables"
    assert (tables / "accuracy.csv").exists() and (tables / "similarity.csv").exists()
    assert full["submitted"] > 0
    # Extraction and comparisons went to Slurm as group jobs, far fewer than their jobs.
    assert {"extract", "compare"} <= set(full["groups"]), full["groups"]
    print(f"\n=== full run: {time.monotonic() - t0:.0f} s")

    _, rerun = snakemake(repo, env, ["--profile", "profiles/slurm"], "rerun")
    assert rerun["nothing"] and rerun["submitted"] == 0

    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    name, spec = ADDED_MODEL
    cfg["datasets"]["digits"]["models"][name] = spec
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    dry, _ = snakemake(repo, env, ["--profile", "profiles/slurm", "-n"], "added_model_plan")
    jobs = planned(dry)
    others = [(r, w) for r, w in jobs if r not in AGGREGATES and name not in w]
    assert jobs and not others, f"jobs not about {name}: {others}"
    _, added = snakemake(repo, env, ["--profile", "profiles/slurm"], "added_model")
    assert 0 < added["submitted"] <= len(jobs)
    _, again = snakemake(repo, env, ["--profile", "profiles/slurm"], "added_model_rerun")
    assert again["nothing"]
