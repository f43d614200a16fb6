"""Per-stage throughput of the pipeline, and what the paper's configs cost on GPUs and CPU cores.

    PYTHONPATH=workflow python benchmarks/pipeline.py --arch resnet50 --device cuda --precision bf16 \
        --batch 256 [--configs configs/imagenet1k.yaml ...] [--gpus 32] [--cpu-cores 512] [--cpu-threads 16]

1. GPU stages, for one architecture, device, precision and batch: training (L2-PGD adversarial, img/s: one
   image = ``pgd_steps`` attack passes + one training pass), inversion (img·step/s) and extraction (img/s).
2. CPU stages, at the paper's sizes on this machine (N = ``--compare-n`` inputs of D = ``--compare-d``
   post-ReLU features, ``--cpu-threads`` threads): one kNN-graph job (top-500), one summary job (norms and
   10 RTD distance matrices of 500 inputs), one comparison job (every measure, RTD's 20 persistent-homology
   runs in ``--cpu-threads`` processes) and one subgroup job (15 % disagreeing inputs, 20 matched draws).
   ``--skip-cpu`` leaves them out (their figures are then marked "not measured").
3. Estimates each stage of each config: the jobs ``snakemake -n --configfile <config>`` would run (counted
   per rule, per architecture and per inversion shard from the jobs' wildcards), times the work per job
   (training: train images × epochs × (1 + PGD steps) forward-backward passes; inversion: the shard's
   targets × iterations; extraction: N; evaluation: eval images × (attack steps + 2) per attack; probe
   features: train images), divided by a ResNet-50 rate scaled by the architecture's FLOPs. GPU stages are
   GPU-hours, CPU stages core-hours (seconds × threads). Every rate is marked: ``reported`` (an H200, issue
   11, fp32), ``measured`` (this run: GPU rates with ``--use-measured``, CPU jobs always unless skipped),
   ``estimate`` (not measured: bf16 targets, rates derived from others).

The output is a table per config: stage, jobs, unit, hours (GPU-h on 1 GPU or CPU core-h), wall hours on
``--gpus`` GPUs and ``--cpu-cores`` cores (jobs spread over them; a stage's wall time is at least its
longest job), and the source of the rate.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "workflow"))

from robuniv import similarity as S  # noqa: E402
from robuniv.attacks import pgd_l2  # noqa: E402
from robuniv.extract import write_activations  # noqa: E402
from robuniv.inversion import invert  # noqa: E402
from robuniv.models import create_model  # noqa: E402
from robuniv.precision import wrap  # noqa: E402
from robuniv.settings import DatasetSettings, EvaluationSettings, InversionSettings, TrainSettings  # noqa: E402

# ResNet-50 on one H200 (issue 11): fp32 reported, bf16 the targets of issue 11 (estimates until measured).
REFERENCE = {
    ("train", "fp32"): (706.0, "reported H200 fp32"),
    ("invert", "fp32"): (3433.0, "reported H200 fp32"),
    ("train", "bf16"): (950.0, "estimate (issue target, bf16)"),
    ("invert", "bf16"): (4500.0, "estimate (issue target, bf16)"),
}
# Forward-only passes are about 3x cheaper than forward+backward: extraction ≈ 3 × inversion img·step/s.
FORWARD_PER_STEP = 3.0
# CPU jobs when not measured (--skip-cpu): estimates, marked as such in the table.
CPU_ESTIMATES = {"summarise_representations": 40.0, "compare_models": 60.0,
                 "compare_subgroups": 180.0}
CPU_STAGES = tuple(CPU_ESTIMATES)
PROBE_SECONDS_PER_EPOCH_PER_MIMG = 2.0  # a linear probe on 1M x 2048 features, per epoch: estimate
# (train images, eval images, image side) per data set of the paper; CIFAR-10 at 32 px costs ~(32/224)^2.
DATASETS = {"imagenet1k": (1_281_167, 50_000, 224), "imagenet100": (126_689, 5_000, 224),
            "cifar10": (50_000, 10_000, 32)}


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    fn()  # warm-up (cudnn autotune, allocator)
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / repeats


def measure(args) -> dict:
    """Throughput of each stage on random data (seconds per batch → rates)."""
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create_model(args.arch, num_classes=args.num_classes, variant=args.variant, width=args.width,
                         image_size=args.image_size).to(device)
    x = torch.rand(args.batch, 3, args.image_size, args.image_size, device=device)
    y = torch.randint(0, args.num_classes, (args.batch,), device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    net = wrap(model, device, args.precision)

    def train_step():
        model.eval()
        adv = pgd_l2(net, x, y, eps=1.0, step_size=2 / 3, steps=args.pgd_steps)
        model.train()
        loss = torch.nn.functional.cross_entropy(net(adv), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rates = {"train": args.batch / timed(train_step, device, args.batches)}
    model.eval()
    inv = timed(lambda: invert(net, x, x.flip(0), iterations=args.inversion_steps), device, args.batches)
    rates["invert"] = args.batch * args.inversion_steps / inv

    with tempfile.TemporaryDirectory() as tmp:
        cpu_x = x.cpu()

        def extract():
            batches = [(np.arange(args.batch), cpu_x, np.zeros(args.batch), np.arange(args.batch))]
            write_activations(model, batches, Path(tmp) / "a.h5", n=args.batch, attrs={}, device=device,
                              precision=args.precision)

        rates["extract"] = args.batch / timed(extract, device, args.batches)

    return rates


def measure_cpu(args) -> dict:
    """Wall seconds of one job of each CPU stage at the paper's sizes on this machine (same arrays for all)."""
    from robuniv.analyses import agreement_mask, subgroup_measures
    from robuniv.settings import SimilaritySettings, SubgroupSettings

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from similarity import synthetic

    torch.set_num_threads(args.cpu_threads)
    sim, sub = SimilaritySettings(), SubgroupSettings()
    a, b = (torch.from_numpy(x) for x in synthetic(args.compare_n, args.compare_d, args.compare_d))
    width = min(100, a.shape[1])
    logits_a = a[:, :width] @ torch.randn(width, 1000, generator=torch.Generator().manual_seed(1))
    logits_b = logits_a.clone()
    flip = torch.randperm(len(a), generator=torch.Generator().manual_seed(2))[: int(0.15 * len(a))]
    logits_b[flip] = logits_b[flip].roll(1, dims=1)  # 15 % of the inputs disagree
    ks = [k for k in sim.jaccard_k if k < len(a)] or [len(a) - 1]  # small N (tests): the ks that fit
    seconds = {}

    def once(rule, fn):
        start = time.perf_counter()
        value = fn()
        seconds[rule] = time.perf_counter() - start
        return value

    rtd = dict(rtd_trials=sim.rtd_trials, rtd_batch=sim.rtd_batch, rtd_seed=sim.rtd_seed)
    # one job per model: its kNN graph and its summary
    steps_a = once("summarise_representations", lambda: (S.knn_graph(a, ks[-1]), S.summarise(a, **rtd)))
    steps_b = S.knn_graph(b, ks[-1]), S.summarise(b, **rtd)
    graphs, summaries = (steps_a[0], steps_b[0]), (steps_a[1], steps_b[1])
    once("compare_models", lambda: S.compare_pair(logits_a, logits_b, a, b, ks=ks, graphs_a=graphs[0],
                                                  graphs_b=graphs[1], rtd_jobs=args.cpu_threads,
                                                  summaries=summaries, **rtd))
    mask = agreement_mask(logits_a.numpy(), logits_b.numpy())
    once("compare_subgroups", lambda: subgroup_measures(a.numpy(), b.numpy(), mask, minimum=sub.min_size,
                                                        k=min(sub.k, ks[-1]),
                                                        matched_draws=sub.matched_draws, **rtd))
    return seconds


# ---------------------------------------------------------------- job counts of a config
def dry_run(config: str) -> str:
    """``snakemake -n --configfile config`` output (rule blocks and job stats)."""
    proc = subprocess.run(["snakemake", "-n", "--configfile", config], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake -n --configfile {config} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout + proc.stderr


def job_stats(text: str) -> dict[str, int]:
    """The ``Job stats`` table of a dry run: rule -> count."""
    counts, inside = {}, False
    for line in text.splitlines():
        if line.startswith("Job stats"):
            inside = True
            continue
        if inside:
            m = re.match(r"^(\w+)\s+(\d+)\s*$", line.strip())
            if m and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
            elif line.strip().startswith("total"):
                break
    if not counts:
        raise ValueError("no 'Job stats' table in the dry-run output")
    return counts


def job_wildcards(text: str) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job block of a dry run."""
    jobs, rule = [], None
    for line in text.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):", line)
        if m:
            rule = m.group(1)
            jobs.append((rule, {}))
            continue
        m = re.match(r"^\s+wildcards: (.*)$", line)
        if m and jobs:
            jobs[-1][1].update(dict(kv.split("=", 1) for kv in m.group(1).split(", ") if "=" in kv))
    return jobs


def _arch_cost(config: dict, dataset: str, model: str) -> tuple[float, bool]:
    """Forward-backward cost of a configured model relative to ResNet-50 (the architecture catalogue's
    ``relative_cost``) and whether it was known; 1.0 (ResNet-50's) where the config or catalogue lacks it."""
    from robuniv.architectures import ARCHITECTURES

    entry = ((config.get("datasets") or {}).get(dataset) or {}).get("models", {}).get(model) or {}
    arch = ARCHITECTURES.get(entry.get("arch"))
    return (arch.relative_cost, True) if arch is not None else (1.0, False)


def _rate(stage: str, precision: str, measured: dict | None):
    if measured is not None and stage in measured:
        return measured[stage], "measured"
    if (stage, precision) in REFERENCE:
        return REFERENCE[(stage, precision)]
    invert_rate, _ = REFERENCE[("invert", precision)]
    if stage == "extract":
        return FORWARD_PER_STEP * invert_rate, "estimate (3 x inversion rate)"
    if stage == "evaluate":
        return invert_rate, "estimate (inversion rate per PGD step)"
    raise KeyError(stage)


ORDER = ["train_model", "evaluate_model", "invert_images", "extract_activations", "extract_train_features",
         "summarise_representations", "compare_models", "compare_subgroups", "train_probe"]


GPU_STAGES = ("train_model", "invert_images", "extract_activations", "extract_train_features", "evaluate_model")


def estimate(text: str, *, precision: str = "fp32", gpus: int = 32, measured: dict | None = None,
             config: dict | None = None, train_gpus: int | None = None, cpu_seconds: dict | None = None,
             cpu_threads: int = 16, cpu_cores: int = 512, cpu_machine: str = "this machine") -> list[dict]:
    """GPU-hours (GPU stages: ResNet-50 rates scaled per architecture) and CPU core-hours (CPU stages:
    ``cpu_seconds`` per job measured with ``cpu_threads`` threads, else estimates) per stage of one dry run."""
    config = config or {}
    train = TrainSettings(**{k: v for k, v in (config.get("training") or {}).items() if k in TrainSettings.__dataclass_fields__})
    inversion = InversionSettings(**{k: v for k, v in (config.get("inversion") or {}).items()
                                     if k in InversionSettings.__dataclass_fields__})
    evaluation = EvaluationSettings(**{k: v for k, v in (config.get("evaluation") or {}).items()
                                       if k in EvaluationSettings.__dataclass_fields__ and k != "fixed_attack_eps"})
    n_inputs = DatasetSettings.n_inputs
    stats = job_stats(text)
    per_stage: dict[str, list[float]] = {}
    sources: dict[str, str] = {}
    fallbacks: set[str] = set()  # models whose architecture cost is not in the catalogue
    for rule, wc in job_wildcards(text):
        dataset = wc.get("dataset", "imagenet1k")
        n_train, n_eval, side = DATASETS.get(dataset, DATASETS["imagenet1k"])
        arch_cost, known = _arch_cost(config, dataset, wc.get("model", ""))
        if not known and "model" in wc:
            fallbacks.add(wc["model"])
        cost = arch_cost * (side / 224) ** 2
        n = int((config.get("datasets", {}).get(dataset, {}) or {}).get("n_inputs", n_inputs))
        if rule == "train_model":
            rate, src = _rate("train", precision, measured)
            seconds = n_train * train.epochs * cost / rate  # rate counts adversarial images (PGD-3 included)
            seconds *= (1 + train.attack_steps) / 4 if float(wc.get("eps", 1)) > 0 else 1 / 4
        elif rule == "invert_images":
            rate, src = _rate("invert", precision, measured)
            if "rows" in wc:  # one shard of the targets
                start, stop = (int(v) for v in wc["rows"].split("-"))
                n = stop - start
            seconds = n * inversion.iterations * cost / rate
        elif rule in ("extract_activations", "extract_train_features"):
            rate, src = _rate("extract", precision, measured)
            seconds = (n if rule == "extract_activations" else n_train) * cost / rate
        elif rule == "evaluate_model":
            rate, src = _rate("evaluate", precision, measured)
            seconds = n_eval * (evaluation.attack_steps + 2) * cost / rate
        elif rule in CPU_STAGES:
            if cpu_seconds is not None and rule in cpu_seconds:
                seconds, src = cpu_seconds[rule], f"measured on {cpu_machine}, {cpu_threads} threads per job"
            else:
                seconds, src = CPU_ESTIMATES[rule], "estimate (not measured)"
        elif rule == "train_probe":
            seconds, src = PROBE_SECONDS_PER_EPOCH_PER_MIMG * 30 * n_train / 1e6, "estimate"
        else:
            continue
        per_stage.setdefault(rule, []).append(seconds)
        sources[rule] = src
    for rule in set(sources) & set(GPU_STAGES) if fallbacks else ():
        sources[rule] += f"; ResNet-50 cost assumed for {', '.join(sorted(fallbacks))}"
    rows = []
    for rule, seconds in sorted(per_stage.items(), key=lambda kv: ORDER.index(kv[0])):
        total = sum(seconds)
        if rule in CPU_STAGES:  # jobs of cpu_threads threads side by side on the cores
            wall = max(total / max(1, cpu_cores // cpu_threads), max(seconds))
            rows.append({"stage": rule, "jobs": stats.get(rule, len(seconds)), "unit": "CPU core-h",
                         "hours": total * cpu_threads / 3600, "gpu_hours": 0.0, "wall_hours": wall / 3600,
                         "source": sources[rule]})
            continue
        per_job = (train_gpus or train.gpus) if rule == "train_model" else 1
        # Jobs spread over the GPUs; a training job on `per_job` GPUs (DDP) assumed linear (estimate).
        wall = max(total / gpus, max(seconds) / per_job)
        rows.append({"stage": rule, "jobs": stats.get(rule, len(seconds)), "unit": "GPU-h", "hours": total / 3600,
                     "gpu_hours": total / 3600, "wall_hours": wall / 3600, "source": sources[rule]})
    return rows


def print_measured(rates: dict, args) -> None:
    print(f"# measured: {args.arch} width {args.width} at {args.image_size} px, {args.device}, {args.precision}, "
          f"batch {args.batch}")
    print(f"{'stage':<12}{'throughput':>16}  unit")
    print(f"{'training':<12}{rates['train']:>16.1f}  img/s (PGD-{args.pgd_steps} adversarial)   measured")
    print(f"{'inversion':<12}{rates['invert']:>16.1f}  img*step/s                  measured")
    print(f"{'extraction':<12}{rates['extract']:>16.1f}  img/s                       measured")


def print_cpu(seconds: dict, args) -> None:
    print(f"\n# measured on {machine()}: one job per CPU stage, N={args.compare_n}, D={args.compare_d}, "
          f"{args.cpu_threads} threads")
    for rule, value in seconds.items():
        print(f"{rule:<28}{value:>10.1f} s")


def machine() -> str:
    import platform

    return f"{platform.node() or 'this machine'} ({os.cpu_count()} cores)"


def print_estimate(name: str, rows: list[dict], gpus: int, precision: str, cpu_cores: int = 512) -> None:
    print(f"\n# {name}: GPU stages: ResNet-50 rates scaled by FLOPs per architecture; CPU stages: per-job seconds "
          f"x threads; wall-h: jobs spread over {gpus} GPUs and {cpu_cores} CPU cores")
    print(f"{'stage':<26}{'jobs':>6}{'unit':>12}{'hours':>10}{f'wall-h ({gpus} GPUs)':>18}  rate")
    for r in rows:
        print(f"{r['stage']:<26}{r['jobs']:>6}{r['unit']:>12}{r['hours']:>10.1f}{r['wall_hours']:>18.2f}  "
              f"{r['source']}")
    gpu, cpu = [r for r in rows if r["unit"] == "GPU-h"], [r for r in rows if r["unit"] != "GPU-h"]
    no_train = [r for r in rows if r["stage"] != "train_model"]
    print(f"{'GPU-h in all':<26}{'':>6}{'GPU-h':>12}{sum(r['hours'] for r in gpu):>10.1f}")
    print(f"{'CPU core-h in all':<26}{'':>6}{'CPU core-h':>12}{sum(r['hours'] for r in cpu):>10.1f}")
    print(f"{'wall-h in all':<26}{'':>6}{'':>12}{'':>10}{sum(r['wall_hours'] for r in rows):>18.2f}"
          "  (stages one after another: upper bound)")
    print(f"{'wall-h without training':<26}{'':>6}{'':>12}{'':>10}{sum(r['wall_hours'] for r in no_train):>18.2f}")
    busy = sum(r["hours"] for r in no_train if r["unit"] == "GPU-h") / gpus
    longest = max((r["wall_hours"] for r in no_train), default=0.0)
    print(f"{'  ... GPUs kept busy':<26}{'':>6}{'':>12}{'':>10}{max(busy, longest):>18.2f}"
          "  (GPU-h / GPUs: stages overlap, e.g. evaluation beside inversion)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--variant", default="imagenet")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=5, help="timed batches per stage (after one warm-up)")
    parser.add_argument("--pgd-steps", type=int, default=3)
    parser.add_argument("--inversion-steps", type=int, default=20)
    parser.add_argument("--compare-n", type=int, default=10_000)
    parser.add_argument("--compare-d", type=int, default=2048)
    parser.add_argument("--cpu-threads", type=int, default=min(16, os.cpu_count() or 1),
                        help="threads per CPU job (measured with these; default: this machine's cores, at most 16)")
    parser.add_argument("--cpu-cores", type=int, default=512, help="CPU cores of the cluster in the estimate")
    parser.add_argument("--skip-cpu", action="store_true", help="do not measure the CPU stages")
    parser.add_argument("--configs", nargs="*", default=["configs/imagenet1k.yaml", "configs/imagenet100.yaml",
                                                         "configs/cifar10.yaml"])
    parser.add_argument("--dry-run-output", nargs="*", default=None,
                        help="saved `snakemake -n` outputs, one per config, instead of running snakemake")
    parser.add_argument("--gpus", type=int, default=32)
    parser.add_argument("--train-gpus", type=int, default=8, help="GPUs per training job (DDP) in the estimate")
    parser.add_argument("--use-measured", action="store_true",
                        help="estimate with this run's rates (only meaningful for resnet50 on the target GPU)")
    parser.add_argument("--skip-measure", action="store_true")
    args = parser.parse_args(argv)
    torch.backends.cudnn.benchmark = True

    rates = cpu = None
    if not args.skip_measure:
        rates = measure(args)
        print_measured(rates, args)
    if not args.skip_cpu:
        cpu = measure_cpu(args)
        print_cpu(cpu, args)
    import yaml

    for i, config in enumerate(args.configs):
        text = (Path(args.dry_run_output[i]).read_text() if args.dry_run_output else dry_run(config))
        cfg = yaml.safe_load((ROOT / config).read_text()) if (ROOT / config).is_file() else {}
        for precision in ("fp32", "bf16"):
            rows = estimate(text, precision=precision, gpus=args.gpus, config=cfg,
                            measured=rates if args.use_measured and precision == args.precision else None,
                            train_gpus=args.train_gpus, cpu_seconds=cpu, cpu_threads=args.cpu_threads,
                            cpu_cores=args.cpu_cores, cpu_machine=machine())
            print_estimate(f"{config} ({precision})", rows, args.gpus, precision, args.cpu_cores)
    return (rates or {}) | ({"cpu": cpu} if cpu else {})


if __name__ == "__main__":
    main()
