"""The Snakemake workflow: its plan (dry runs) and the whole demo run on a copy of the repository."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
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
    assert jobs == {"prepare_dataset": 1, "prepare_inputs": 1, "train_model": 12, "evaluate_model": 12,
                    "accuracy_table": 1, "invert_images": 12, "extract_activations": 4 * 3 * (1 + 3),
                    "compare_regular": 4 * 3, "compare_inverted": 4 * 6, "similarity_tables": 1, "figures": 1,
                    "figure_inversions": 4, "compare_subgroups": 4 * 3, "extract_train_features": 3,
                    "train_probe": 3, "analysis_tables": 1, "analysis_figures": 1, "all": 1}


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
    assert jobs["invert_images"] == 7 * 5
    assert jobs["extract_activations"] == 5 * 7 * (1 + 7)  # every model on regular + every model's inverted
    assert jobs["compare_regular"] == 5 * 21 and jobs["compare_inverted"] == 5 * 42
    assert jobs["figure_inversions"] == 5 and jobs["similarity_tables"] == 1 and jobs["figures"] == 1
    assert jobs["compare_subgroups"] == 2 * 21  # ε = 0 and 3, as in the paper
    assert jobs["extract_train_features"] == 7 and jobs["train_probe"] == 7  # at ε = 3


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


def edited_copy(finished_demo, tmp_path, edit):
    """A copy of the finished demo (results and Snakemake's records included) with an edited config."""
    repo = tmp_path / "copy"
    shutil.copytree(finished_demo, repo, symlinks=True)
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    edit(cfg)
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return repo


@pytest.mark.slow
def test_adding_a_model_plans_only_its_jobs(finished_demo, tmp_path):
    def add(cfg):
        cfg["datasets"]["digits"]["models"]["resnet18_seed1"] = {"arch": "resnet18", "width": 0.125, "seed": 1}

    jobs = planned_jobs(cwd=edited_copy(finished_demo, tmp_path, add))
    per_eps = {"train_model": 1, "evaluate_model": 1, "invert_images": 1,
               # the new model on regular, its own and 3 others' inverted images; 3 old models on its inverted
               "extract_activations": 1 + 1 + 3 + 3,
               "compare_regular": 3, "compare_inverted": 6, "figure_inversions": 1, "compare_subgroups": 3}
    expected = {rule: 4 * n for rule, n in per_eps.items()}
    expected.update(accuracy_table=1, similarity_tables=1, figures=1, all=1, extract_train_features=1, train_probe=1,
                    analysis_tables=1, analysis_figures=1)
    assert jobs == expected


@pytest.mark.slow
def test_changing_a_figure_setting_reruns_only_figures(finished_demo, tmp_path):
    def dpi(cfg):
        cfg["figures"]["dpi"] = 90

    assert planned_jobs(cwd=edited_copy(finished_demo, tmp_path, dpi)) == {"figures": 1, "figure_inversions": 4,
                                                                           "analysis_figures": 1, "all": 1}


@pytest.mark.slow
def test_adding_an_eps_plans_only_its_jobs(finished_demo, tmp_path):
    def add(cfg):
        cfg["datasets"]["digits"]["eps"].append(2)

    jobs = planned_jobs(cwd=edited_copy(finished_demo, tmp_path, add))
    # The probes follow the largest ε by default: the new ε = 2 gets them.
    assert jobs == {"train_model": 3, "evaluate_model": 3, "invert_images": 3, "extract_activations": 3 * 4,
                    "compare_regular": 3, "compare_inverted": 6, "figure_inversions": 1, "accuracy_table": 1,
                    "similarity_tables": 1, "figures": 1, "compare_subgroups": 3, "extract_train_features": 3,
                    "train_probe": 3, "analysis_tables": 1, "analysis_figures": 1, "all": 1}


@pytest.mark.slow
def test_report_is_self_contained_and_renders(finished_demo, tmp_path):
    from robuniv.report_check import find_chromium, main as check_report

    report = finished_demo / "results" / "report.html"
    snakemake("--report", str(report), cwd=finished_demo)
    assert report.stat().st_size > 100_000  # figures embedded
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    assert check_report([str(report)]) == 0


@pytest.mark.slow
def test_demo_analyses(finished_demo):
    tables = finished_demo / "results" / "tables"
    probes = pd.read_csv(tables / "probes.csv")
    assert set(probes.kind) == {"pretrained ε=0", "pretrained ε=1", "probes ε=1"}
    for path in (finished_demo / "results" / "digits" / "eps1" / "probes").glob("*.h5"):
        with h5py.File(path) as fh:
            assert fh["accuracy"][0] > 0.8, path  # 10 classes: chance is 0.1
    assert len(probes[probes.kind == "probes ε=1"]) == 3
    bounds = pd.read_csv(tables / "agreement_bounds.csv")
    assert len(bounds) == 4 * 3
    assert ((bounds.error_lower <= bounds.agreement + 1e-12) & (bounds.agreement <= bounds.error_upper + 1e-12)).all()
    tests = pd.read_csv(tables / "subgroup_tests.csv")
    assert set(tests.measure) == {"cka", "procrustes_sim", "jaccard@10", "rtd"}
    subgroups = pd.read_csv(tables / "subgroups.csv")
    assert set(subgroups.subgroup) == {"agree", "disagree"}
