"""benchmarks/pipeline.py runs on CPU at a tiny size and prints the per-stage table and the estimate."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DRY_RUN = """\
rule train_model:
    output: results/imagenet1k/eps1/models/vgg16_bn.ckpt
    wildcards: dataset=imagenet1k, eps=1, model=vgg16_bn
rule train_model:
    output: results/imagenet1k/eps0.5/models/resnext50_32x4d.ckpt
    wildcards: dataset=imagenet1k, eps=0.5, model=resnext50_32x4d
rule invert_images:
    wildcards: dataset=imagenet1k, eps=3, model=resnet50
rule invert_images:
    wildcards: dataset=imagenet1k, eps=1, model=resnet50, rows=2000-3000
rule extract_activations:
    wildcards: dataset=imagenet1k, eps=3, model=resnet50, inputs=regular
rule compare_models:
    wildcards: dataset=imagenet1k, eps=3, pair=resnet18__resnet50
Job stats:
job                       count
----------------------  -------
train_model                   2
invert_images                 2
extract_activations           1
compare_models                1
all                           1
total                         7
"""


def load():
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "benchmarks" / "pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_job_stats_and_estimate():
    bench = load()
    assert bench.job_stats(DRY_RUN) == {"train_model": 2, "invert_images": 2, "extract_activations": 1,
                                        "compare_models": 1, "all": 1}
    # the cost of a model is its architecture's (catalogue), whatever the model is called
    models = {"vgg16_bn": {"arch": "vgg16_bn"}, "resnext50_32x4d": {"arch": "resnext50_32x4d"},
              "resnet50": {"arch": "resnet50"}}
    config = {"datasets": {"imagenet1k": {"models": models}}}
    rows = {r["stage"]: r for r in bench.estimate(DRY_RUN, precision="fp32", gpus=32, train_gpus=1, config=config)}
    # vgg16_bn (3.8 x ResNet-50) + resnext (1.05 x) for 90 epochs of 1,281,167 images at 706 img/s (PGD-3)
    expected = 1_281_167 * 90 * (3.8 + 1.05) / 706 / 3600
    assert abs(rows["train_model"]["gpu_hours"] - expected) < 1e-6 * expected
    assert rows["train_model"]["source"] == "reported H200 fp32"
    # an unsharded job inverts all 10,000 targets, a shard only its rows
    assert abs(rows["invert_images"]["gpu_hours"] - (10_000 + 1_000) * 1000 / 3433 / 3600) < 1e-9
    # CPU stages in core-hours: measured seconds per job x threads; wall over cores / threads job slots
    cpu = {r["stage"]: r for r in bench.estimate(DRY_RUN, cpu_seconds={"compare_models": 90.0}, cpu_threads=4,
                                                 cpu_cores=8, config=config)}
    assert cpu["compare_models"]["unit"] == "CPU core-h" and cpu["compare_models"]["hours"] == 90 * 4 / 3600
    assert cpu["compare_models"]["wall_hours"] == 90 / 3600 and cpu["compare_models"]["gpu_hours"] == 0
    assert cpu["compare_models"]["source"].startswith("measured on")
    assert rows["compare_models"]["source"] == "estimate (not measured)"
    assert rows["train_model"]["wall_hours"] == 1_281_167 * 90 * 3.8 / 706 / 3600  # the longest job
    bf16 = {r["stage"]: r for r in bench.estimate(DRY_RUN, precision="bf16", gpus=32, config=config)}
    assert bf16["train_model"]["source"].startswith("estimate")
    unknown = {r["stage"]: r for r in bench.estimate(DRY_RUN, precision="fp32", gpus=32)}  # no config: fallback
    assert abs(unknown["train_model"]["gpu_hours"] - 1_281_167 * 90 * 2 / 706 / 3600) < 1e-6
    assert "ResNet-50 cost assumed for resnet50, resnext50_32x4d, vgg16_bn" in unknown["train_model"]["source"]


def test_cli_measures_tiny_model_on_cpu_and_prints_tables(tmp_path, capsys):
    bench = load()
    dry = tmp_path / "dry.txt"
    dry.write_text(DRY_RUN)
    rates = bench.main(["--arch", "resnet18", "--width", "0.125", "--variant", "cifar", "--num-classes", "10",
                        "--image-size", "32", "--device", "cpu", "--batch", "4", "--batches", "1",
                        "--inversion-steps", "2", "--compare-n", "64", "--compare-d", "16", "--cpu-threads", "1",
                        "--configs", "configs/imagenet1k.yaml", "--dry-run-output", str(dry)])
    out = capsys.readouterr().out
    print(out)
    assert all(rates[k] > 0 for k in ("train", "invert", "extract"))
    assert set(rates["cpu"]) == {"summarise_representations", "compare_models", "compare_subgroups"}
    assert all(v > 0 for v in rates["cpu"].values())
    assert "training" in out and "measured" in out and "reported H200 fp32" in out
    assert "configs/imagenet1k.yaml (bf16)" in out and "estimate (issue target, bf16)" in out
    assert "wall-h (32 GPUs)" in out and "CPU core-h" in out and "measured on" in out
