"""The Snakemake workflow: its plan (dry runs) and the whole demo run on a copy of the repository."""
import os
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
                    "summarise_representations": 4 * 3 * (1 + 3),
                    "compare_models": 4 * (3 + 6), "similarity_tables": 1,
                    # the catalogue: one job per family and pair (cca, alignment, rsm, neighbours@10, statistics)
                    "compare_catalogue": 5 * 4 * (3 + 6),
                    "plot_figures": 1, "figure_inversions": 4, "compare_subgroups": 4 * 3,
                    "extract_train_features": 3, "train_probe": 3, "analysis_tables": 1, "analysis_figures": 1,
                    "figure_inversions_by_eps": 1, "all": 1}


def test_snakefmt_and_lint_are_clean():
    files = ["Snakefile", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "workflow" / "rules").glob("*.smk"))]
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", *files], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lint = snakemake("--lint", "text", check=False)
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout[-3000:]


def test_rule_names_in_the_schema_are_the_workflows_rules():
    from robuniv import config as rc

    listed = set(snakemake("--list-rules").stdout.split())
    assert set(rc.load_schema()["$defs"]["rule"]["enum"]) == listed - {"all"}


def paper_plan(config_name, tmp_path):
    """A paper config's dry run: a --configfile replaces the demo, so only that data set is planned."""
    repo = copy_repo(tmp_path / "repo")
    proc = snakemake("-n", "--configfile", f"configs/{config_name}.yaml", cwd=repo)
    out = proc.stdout
    paths = set(re.findall(r"(?:results|resources)/([^/\s]+)/", out)) - {"tables", "figures", "checkpoints"}
    paper_plan.stderr = proc.stderr
    return planned_jobs("--configfile", f"configs/{config_name}.yaml", cwd=repo), paths, out


def test_imagenet1k_plan_follows_table_1(tmp_path):
    jobs, datasets, out = paper_plan("imagenet1k", tmp_path)
    assert datasets == {"imagenet1k"} and "digits" not in out
    # the dry run says, before any job runs, that the ImageNet tree is not in place and what belongs there
    assert ("robuniv: not in place: datasets.imagenet1k.path: resources/data/imagenet does not exist; place the data "
            "there (imagefolder: ImageNet-style <path>/train and <path>/val class folders)") in paper_plan.stderr
    # 4 architectures released at all 5 ε, 3 released at ε 0 and 3 only; Table 1 trains the other 6:
    # resnext50_32x4d at 0.5 and 1 (none at 0.25), densenet161 at 1 (none at 0.25, 0.5), vgg16_bn at 0.25-1.
    assert jobs["download_checkpoint"] == 4 * 5 + 3 * 2
    assert jobs["train_model"] == 2 + 1 + 3
    models_per_eps = {"0": 7, "0.25": 5, "0.5": 6, "1": 7, "3": 7}
    pairs = {e: n * (n - 1) // 2 for e, n in models_per_eps.items()}
    assert jobs["evaluate_model"] == sum(models_per_eps.values()) == 32
    assert jobs["invert_images"] == 32 * 10  # 10,000 targets in shards of 1,000
    # every model on regular images and on every model's inverted images, at its ε
    assert jobs["extract_activations"] == jobs["summarise_representations"] == sum(n * (1 + n) for n in models_per_eps.values())
    assert jobs["compare_models"] == 3 * sum(pairs.values())  # regular: unordered; inverted: ordered
    assert jobs["compare_subgroups"] == pairs["0"] + pairs["3"]  # paper figure 5: ε = 0 vs 3
    assert jobs["extract_train_features"] == jobs["train_probe"] == 7  # at ε = 3
    assert jobs["figure_inversions"] == 5


def test_imagenet100_and_cifar10_plans(tmp_path):
    jobs, datasets, _ = paper_plan("imagenet100", tmp_path / "in100")
    assert datasets == {"imagenet100"}
    assert jobs["train_model"] == 4 * 5 and "download_checkpoint" not in jobs
    assert jobs["compare_models"] == 5 * 3 * 6
    jobs, datasets, _ = paper_plan("cifar10", tmp_path / "c10")
    assert datasets == {"cifar10"}
    assert jobs["train_model"] == 7 * 4 and jobs["compare_models"] == 4 * 3 * 21


def test_readme_own_model_section_runs_as_written(tmp_path):
    """The README's "Your own model, by name" example, pasted into the demo with a file timm wrote: planned."""
    import timm
    from timm.models import save_for_hf

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("*Your own model, by name.*"):]
    snippet = section[section.index("```yaml") + len("```yaml"):section.index("```", section.index("```yaml") + 7)]
    models = yaml.safe_load(snippet)
    (name, entry), = models.items()
    repo = copy_repo(tmp_path / "repo")
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["datasets"]["digits"]["models"][name] = entry
    (repo / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    weights = repo / entry["checkpoint"][0]
    save_for_hf(timm.create_model(entry["arch"].split(":", 1)[1], pretrained=False, num_classes=10), tmp_path / "hf",
                safe_serialization=True)
    weights.parent.mkdir(parents=True)
    shutil.copyfile(tmp_path / "hf" / "model.safetensors", weights)
    proc = snakemake("-n", cwd=repo)
    assert f"models.{name}" not in proc.stderr  # nothing of it is reported missing
    jobs = planned_jobs(cwd=repo)
    assert jobs["download_checkpoint"] == 1  # its ε = 0 weights, copied in; the other ε are trained
    assert jobs["train_model"] == 12 + 3


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
    assert "datasets.digits.models.resnet18.arch" in proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def finished_demo(tmp_path_factory):
    """The shipped demo, run once end to end on a copy of the repository."""
    repo = copy_repo(tmp_path_factory.mktemp("demo") / "repo")
    snakemake("-c", "2", cwd=repo)
    return repo


@pytest.mark.slow
def test_demo_accuracies(finished_demo):
    table = pd.read_csv(finished_demo / "results" / "digits" / "tables" / "accuracy.csv")
    assert list(table.columns) == ["dataset", "model", "arch", "eps", "clean_accuracy", "adversarial_accuracy",
                                   "attack_eps", "attack_steps"]
    assert len(table) == 12 + 9  # own attack for all 12 models, the fixed ε=1 attack for the 9 with ε != 1
    standard = table[table.eps == 0].drop_duplicates("model")
    assert (standard.clean_accuracy >= 0.90).all(), standard
    fixed = table[table.attack_eps == 1.0].groupby("eps").adversarial_accuracy.mean()
    assert list(fixed.index) == [0.0, 0.25, 0.5, 1.0]
    assert fixed.is_monotonic_increasing and fixed[1.0] - fixed[0.0] > 0.15, fixed
    checkpoints = sorted((finished_demo / "results" / "digits").glob("eps*/models/*.ckpt"))
    assert len(checkpoints) == 12  # an empty glob must not pass
    for path in checkpoints:
        assert path.stat().st_size > 0


@pytest.mark.slow
def test_finished_demo_plans_nothing(finished_demo):
    assert planned_jobs(cwd=finished_demo) == {}


TEST_CONFIG = ["--configfile", ".test/config.yaml"]


@pytest.fixture(scope="module")
def finished_small(tmp_path_factory):
    """The .test config (2 models, 2 ε, 1 epoch, 40 inputs), run once end to end."""
    repo = copy_repo(tmp_path_factory.mktemp("small") / "repo")
    snakemake("-c", "2", *TEST_CONFIG, cwd=repo)
    return repo


def edited_copy(finished, tmp_path, edit):
    """A copy of a finished run (results and Snakemake's records included) with an edited .test config."""
    repo = tmp_path / "copy"
    shutil.copytree(finished, repo, symlinks=True)
    path = repo / ".test" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    edit(cfg)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return repo


@pytest.mark.slow
def test_small_run_plans_nothing_afterwards(finished_small):
    assert planned_jobs(*TEST_CONFIG, cwd=finished_small) == {}


@pytest.mark.slow
def test_adding_a_model_plans_only_its_jobs(finished_small, tmp_path):
    def add(cfg):
        cfg["datasets"]["digits"]["models"]["resnet18_seed1"] = {"arch": "resnet18", "width": 0.125, "seed": 1}

    jobs = planned_jobs(*TEST_CONFIG, cwd=edited_copy(finished_small, tmp_path, add))
    per_eps = {"train_model": 1, "evaluate_model": 1, "invert_images": 3,  # 40 targets in shards of 16
               # the new model on regular, its own and 2 others' inverted images; 2 old models on its inverted
               "extract_activations": 1 + 1 + 2 + 2,
               "summarise_representations": 1 + 1 + 2 + 2,
               "compare_models": 2 + 4, "figure_inversions": 1, "compare_subgroups": 2}
    expected = {rule: 2 * n for rule, n in per_eps.items()}
    expected.update(accuracy_table=1, similarity_tables=1, plot_figures=1, all=1, extract_train_features=1,
                    train_probe=1, analysis_tables=1, analysis_figures=1)
    assert jobs == expected


def add_provider_models(cfg):
    models = cfg["datasets"]["digits"]["models"]
    models["timm_resnet"] = {"arch": "timm:test_resnet", "input_size": 32}
    models["tv_shufflenet"] = {"arch": "torchvision:shufflenet_v2_x0_5", "input_size": 32}


@pytest.mark.slow
def test_provider_models_added_to_a_finished_run_plan_only_their_jobs(finished_small, tmp_path):
    """A timm and a torchvision model by name beside the built-in ones (digits resized to 32 px): the same jobs
    as any two added models and nothing else."""
    repo = edited_copy(finished_small, tmp_path, add_provider_models)
    # 2 → 4 models per ε: activations, kNN graphs and summaries M·(M + 1) (regular + each model's inverted
    # images): 6 → 20; pairs × (regular, A's and B's inverted images): 3 → 18
    per_eps = {"train_model": 2, "evaluate_model": 2, "invert_images": 6, "extract_activations": 14,
               "summarise_representations": 14, "compare_models": 15,
               "figure_inversions": 1, "compare_subgroups": 5}  # the 5 new pairs
    expected = {rule: 2 * n for rule, n in per_eps.items()}
    expected.update(accuracy_table=1, similarity_tables=1, plot_figures=1, all=1, extract_train_features=2,
                    train_probe=2, analysis_tables=1, analysis_figures=1)  # probes: one per new model
    assert planned_jobs(*TEST_CONFIG, cwd=repo) == expected


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.skipif(not os.environ.get("ROBUNIV_LONG_TESTS"), reason="about 4 minutes: ROBUNIV_LONG_TESTS=1 (.ci/run)")
def test_provider_models_added_to_a_finished_run_run_end_to_end(finished_small, tmp_path):
    """The two provider models above run: the run is then complete, the old pairs' files untouched, and the new
    models' activations name the tensor they hold."""
    repo = edited_copy(finished_small, tmp_path, add_provider_models)
    old_pairs = {p: p.read_bytes() for p in (repo / "results").rglob("similarity/**/*") if p.is_file()}
    assert old_pairs
    snakemake("-c", "2", *TEST_CONFIG, cwd=repo)
    assert planned_jobs(*TEST_CONFIG, cwd=repo) == {}
    assert all(p.read_bytes() == data for p, data in old_pairs.items())  # nothing of the old pairs rewritten
    accuracy = pd.read_csv(repo / "results" / "digits" / "tables" / "accuracy.csv")
    assert {"timm_resnet", "tv_shufflenet"} <= set(accuracy["model"])
    for model, layer in (("timm_resnet", "timm:test_resnet: input of the final linear classifier"),
                         ("tv_shufflenet", "torchvision:shufflenet_v2_x0_5: input of the final linear classifier")):
        [path] = (repo / "results").rglob(f"eps1/activations/{model}/regular.h5")
        with h5py.File(path) as f:
            assert f.attrs["layer"].startswith(layer), f.attrs["layer"]
            assert f["representations"].shape[0] == f["logits"].shape[0] == 40


@pytest.mark.slow
def test_changing_a_figure_setting_reruns_only_figures(finished_small, tmp_path):
    def dpi(cfg):
        cfg["figures"]["dpi"] = 50

    assert planned_jobs(*TEST_CONFIG, cwd=edited_copy(finished_small, tmp_path, dpi)) == {
        "plot_figures": 1, "figure_inversions": 2, "figure_inversions_by_eps": 1, "analysis_figures": 1, "all": 1}


@pytest.mark.slow
def test_changing_jaccard_k_reruns_no_forward_pass(finished_small, tmp_path):
    def jaccard(cfg):
        cfg["datasets"]["digits"]["similarity"]["jaccard_k"] = [5, 10, 20]

    jobs = planned_jobs(*TEST_CONFIG, cwd=edited_copy(finished_small, tmp_path, jaccard))
    # 12 per-model steps (kNN graph + summary; 2 ε x 2 models x 3 input sets), 6 comparisons and the
    # aggregations; no extraction, and no subgroup comparison (those use their own k and the RTD settings only)
    assert jobs == {"summarise_representations": 12, "compare_models": 6, "similarity_tables": 1,
                    "analysis_tables": 1, "plot_figures": 1, "analysis_figures": 1, "all": 1}


@pytest.mark.slow
def test_changing_execution_settings_reruns_nothing(finished_small, tmp_path):
    from robuniv import settings as st

    sections = {st.TrainSettings: "training", st.EvaluationSettings: "evaluation", st.DatasetSettings: None}

    def faster(cfg):
        ds = cfg["datasets"]["digits"]
        for cls, section in sections.items():  # every execution field the settings declare, changed
            target = ds if section is None else ds.setdefault(section, {})
            for name in st.execution_fields(cls):
                target[name] = getattr(cls(), name) + 1
        ds["resources"] = {"invert_images": {"mem_mb": 1234, "runtime": 5}}
        cfg["threads"] = {"compare_models": 2, "extract_activations": 2}

    edited = edited_copy(finished_small, tmp_path, faster)
    assert "num_workers" in (edited / ".test" / "config.yaml").read_text()
    assert planned_jobs(*TEST_CONFIG, cwd=edited) == {}


@pytest.mark.slow
def test_a_checkpoint_replaced_by_an_older_file_stops_the_plan_until_touched(finished_small, tmp_path):
    """cp -p of other weights over a checkpoint: Snakemake alone would keep every file made from the old ones."""
    repo = edited_copy(finished_small, tmp_path, lambda cfg: None)
    models = repo / "results" / "digits"
    checkpoint, other = models / "eps0" / "models" / "resnet18.ckpt", models / "eps1" / "models" / "resnet18.ckpt"
    old = checkpoint.stat().st_mtime
    shutil.copyfile(other, checkpoint)
    os.utime(checkpoint, (old, old))
    proc = snakemake("-n", *TEST_CONFIG, cwd=repo, check=False)
    assert proc.returncode != 0
    assert re.search(r"results/digits/eps0/models/resnet18\.ckpt was replaced after .* Run `touch "
                     r"results/digits/eps0/models/resnet18\.ckpt`", proc.stdout + proc.stderr), proc.stderr[-2000:]
    checkpoint.touch()
    jobs = planned_jobs(*TEST_CONFIG, cwd=repo)
    assert jobs["evaluate_model"] == 1 and jobs["invert_images"] == 3 and "train_model" not in jobs


@pytest.mark.slow
def test_adding_measures_plans_only_their_family(finished_small, tmp_path):
    """A catalogue measure plans its family's jobs only; one more of that family, once it ran, plans none."""
    def svcca(cfg):
        cfg["datasets"]["digits"]["similarity"]["measures"] = ["paper", "svcca"]

    repo = edited_copy(finished_small, tmp_path, svcca)
    pairs = 2 * (1 + 2)  # 2 ε x (1 regular pair + 2 ordered inverted pairs)
    aggregates = {"similarity_tables": 1, "analysis_tables": 1, "plot_figures": 1, "analysis_figures": 1, "all": 1}
    assert planned_jobs(*TEST_CONFIG, cwd=repo) == {"compare_catalogue": pairs, **aggregates}
    snakemake("-c", "2", *TEST_CONFIG, cwd=repo)
    table = pd.read_csv(repo / "results" / "digits" / "tables" / "similarity.csv")
    assert "svcca" in set(table.measure) and "pwcca" not in set(table.measure)  # its sibling is computed, not shown
    before = {p: p.stat().st_mtime_ns for p in (repo / "results").rglob("similarity/*/cca/*.csv")}
    assert len(before) == pairs

    path = repo / ".test" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["datasets"]["digits"]["similarity"]["measures"] = ["paper", "svcca", "pwcca"]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(*TEST_CONFIG, cwd=repo) == aggregates  # pwcca was computed with svcca: only the tables
    cfg["datasets"]["digits"]["similarity"]["measures"] += ["mutual_knn@5"]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert planned_jobs(*TEST_CONFIG, cwd=repo) == {"compare_catalogue": pairs, **aggregates}  # its family only


@pytest.mark.slow
def test_two_studies_in_one_checkout_keep_their_tables(finished_small, tmp_path):
    """A second config with another data set runs beside the first: neither's tables or figures change."""
    repo = tmp_path / "copy"
    shutil.copytree(finished_small, repo, symlinks=True)
    first = {p: p.read_bytes() for p in (repo / "results" / "digits").glob("*/*.*") if p.parent.name in
             ("tables", "figures")}
    assert len([p for p in first if p.suffix == ".csv"]) == 7
    cfg = yaml.safe_load((repo / ".test" / "config.yaml").read_text())
    cfg["datasets"] = {"digits_b": {**cfg["datasets"]["digits"], "n_inputs": 30, "inputs_seed": 1}}
    (repo / "second.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    snakemake("-c", "2", "--configfile", "second.yaml", cwd=repo)

    assert {p: p.read_bytes() for p in first} == first  # the first study's tables and figures, byte for byte
    second = pd.read_csv(repo / "results" / "digits_b" / "tables" / "similarity.csv")
    assert set(second["dataset"]) == {"digits_b"}
    assert planned_jobs(*TEST_CONFIG, cwd=repo) == {}
    assert planned_jobs("--configfile", "second.yaml", cwd=repo) == {}


@pytest.mark.slow
def test_changing_the_shard_size_reruns_only_the_inversions_and_what_reads_them(finished_small, tmp_path):
    """shard_size 40 (one job per model) instead of 16 (three): only the inversions and what reads them are
    planned. (That the shards' images equal one job's, bit for bit, tests/test_shards.py checks on the jobs.)"""
    def one_shard(cfg):
        cfg["datasets"]["digits"]["inversion"]["shard_size"] = 40

    jobs = planned_jobs(*TEST_CONFIG, cwd=edited_copy(finished_small, tmp_path, one_shard))
    # per ε: 2 models' inversions, 2 models x 2 inverted input sets of activations and graphs, 2 ordered pairs
    rules = ("invert_images", "extract_activations", "summarise_representations", "compare_models")
    assert {k: jobs[k] for k in rules} == {"invert_images": 4, "extract_activations": 8,
                                           "summarise_representations": 8, "compare_models": 4}
    assert "train_model" not in jobs and "compare_subgroups" not in jobs and "evaluate_model" not in jobs
    sharded = sorted((finished_small / "results" / "digits" / "eps1" / "inverted" / "resnet18").glob("*.h5"))
    assert [p.name for p in sharded] == ["targets0-16.h5", "targets16-32.h5", "targets32-40.h5"]


@pytest.mark.slow
def test_changing_the_figure_model_reruns_only_its_figure(finished_small, tmp_path):
    def model(cfg):
        cfg["datasets"]["digits"]["figure_model"] = "vgg16_bn"

    assert planned_jobs(*TEST_CONFIG, cwd=edited_copy(finished_small, tmp_path, model)) == {
        "figure_inversions_by_eps": 1, "all": 1}


@pytest.mark.slow
def test_adding_an_eps_plans_only_its_jobs(finished_small, tmp_path):
    def add(cfg):
        cfg["datasets"]["digits"]["eps"].append(2)

    jobs = planned_jobs(*TEST_CONFIG, cwd=edited_copy(finished_small, tmp_path, add))
    # The probes follow the largest ε by default: the new ε = 2 gets them.
    assert jobs == {"train_model": 2, "evaluate_model": 2, "invert_images": 2 * 3, "extract_activations": 2 * 3,
                    "summarise_representations": 2 * 3, "compare_models": 1 + 2, "figure_inversions": 1, "accuracy_table": 1,
                    "similarity_tables": 1, "plot_figures": 1, "compare_subgroups": 1, "extract_train_features": 2,
                    "train_probe": 2, "analysis_tables": 1, "analysis_figures": 1, "figure_inversions_by_eps": 1,
                    "all": 1}


@pytest.mark.slow
def test_report_is_self_contained_and_renders(finished_small, tmp_path):
    from report_check import find_chromium, main as check_report

    report = finished_small / "results" / "report.html"
    snakemake("--report", str(report), *TEST_CONFIG, cwd=finished_small)
    assert report.stat().st_size > 100_000  # figures embedded
    if find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    assert check_report([str(report)]) == 0


@pytest.mark.slow
def test_demo_analyses(finished_demo):
    tables = finished_demo / "results" / "digits" / "tables"
    probes = pd.read_csv(tables / "probes.csv")
    assert set(probes.kind) == {"pretrained ε=0", "pretrained ε=1", "probes ε=1"}
    probe_files = sorted((finished_demo / "results" / "digits" / "eps1" / "probes").glob("*.h5"))
    assert len(probe_files) == 3  # an empty glob must not pass
    for path in probe_files:
        with h5py.File(path) as fh:
            assert fh["accuracy"][0] > 0.8, path  # 10 classes: chance is 0.1
    assert len(probes[probes.kind == "probes ε=1"]) == 3
    bounds = pd.read_csv(tables / "agreement_bounds.csv")
    assert len(bounds) == 4 * 3
    assert ((bounds.error_lower <= bounds.agreement + 1e-12) & (bounds.agreement <= bounds.error_upper + 1e-12)).all()
    tests = pd.read_csv(tables / "subgroup_tests.csv")
    assert set(tests.measure) == {"cka", "cka_debiased", "procrustes_sim", "procrustes_nuclear_norm", "jaccard@10",
                                  "rtd"}
    subgroups = pd.read_csv(tables / "subgroups.csv")
    assert set(subgroups.subgroup) == {"agree", "disagree", "agree_matched"}
