"""One function per workflow job: what a job computes, given settings objects and paths.

Every Snakemake script only unpacks ``snakemake``, builds the settings objects of its params
(:func:`robuniv.settings.from_params`) and calls one of these, so every job can be run and tested without
Snakemake. Arguments: ``source`` (the data set's source options, with its ``source`` key: see
:mod:`robuniv.sources`), ``model`` (a :class:`~robuniv.settings.ModelSettings`) and one settings object per
stage (:mod:`robuniv.settings`). Readers of the workflow's files live in :mod:`robuniv.h5io`, pure table
functions in :mod:`robuniv.tables`.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from . import settings as st

log = logging.getLogger("robuniv")


# ---------------------------------------------------------------- data and models
def open_split(source: dict, split: str, *, augment: bool = False):
    from .data import open_split as _open

    return _open(source, split, augment=augment)


def model_spec(source: dict, model: st.ModelSettings) -> dict:
    """Keyword arguments of :func:`robuniv.models.create_model` for a configured model on a source."""
    from .data import source_info_of

    info = source_info_of(source)
    spec = {"arch": model.arch, "num_classes": info.num_classes, "variant": info.variant,
            "width": model.width, "image_size": info.image_size, "mean": list(info.mean), "std": list(info.std)}
    if model.input_size is not None:
        spec["input_size"] = model.input_size
    return spec


def load_model(checkpoint, source: dict, model: st.ModelSettings, sha256: Optional[str] = None):
    """The model of a checkpoint; with ``sha256`` the file is checked first, wherever it came from (a file
    placed by hand in resources/checkpoints/ never passes through the download job)."""
    from .checkpoints import load_robustness_checkpoint

    return load_robustness_checkpoint(checkpoint, sha256=sha256, **model_spec(source, model))


def _model_attrs(dataset: str, eps, model_name: str, source: dict, model: st.ModelSettings, checkpoint,
                 sha256: Optional[str] = None) -> dict:
    from .architectures import representation_layer

    variant = model_spec(source, model)["variant"]
    return {"dataset": dataset, "eps": float(eps), "model": model_name, "arch": model.arch,
            "width": model.width, "variant": variant, "layer": representation_layer(model.arch, variant),
            "checkpoint": str(checkpoint), "checkpoint_sha256": _checkpoint_sha256(checkpoint, sha256)}


def _checkpoint_sha256(checkpoint, sha256: Optional[str]) -> str:
    """What derived files record of their checkpoint (robuniv.provenance compares it at plan time)."""
    from .provenance import file_sha256

    # a configured sha256 was verified when the model was loaded: no second pass over the file
    return sha256.lower() if sha256 else file_sha256(checkpoint)


def prepare_dataset(source: dict, dataset: str, out) -> dict:
    """Check both splits of a data set and write its summary (sizes, classes, normalisation)."""
    from .data import content_digest, labels_of, open_splits, source_info_of
    from .runtime import write_json

    info = source_info_of(source)
    splits = open_splits(source)
    summary = {"dataset": dataset, "source": source["source"], "num_classes": info.num_classes,
               "image_size": info.image_size, "model_variant": info.variant,
               "mean": list(info.mean), "std": list(info.std),
               # what later jobs compare the data with (the data may move; its content may not change)
               "content_digest": content_digest(splits)}
    for split, data in splits.items():
        labels = labels_of(data)
        summary[f"n_{split}"] = int(len(labels))
        summary[f"n_classes_{split}"] = int(len(set(labels.tolist())))
        log.info("%s split: %d images, %d classes", split, len(labels), summary[f"n_classes_{split}"])
    write_json(summary, out)
    return summary


def prepare_inputs(source: dict, settings: st.DatasetSettings, dataset: str, out, summary=None) -> None:
    """Sample the comparison inputs once: targets and, per target, a seed of a different class. ``summary``:
    the data set's dataset.json, which the data must still match."""
    from .data import check_content, labels_of
    from .h5io import atomic_h5, set_attrs
    from .inputs import sample_pairs
    from .loading import write_input_images

    if summary is not None:
        check_content(source, summary)
    pool_set = open_split(source, settings.input_pool)
    pool = labels_of(pool_set)
    try:
        targets, seeds = sample_pairs(pool, settings.n_inputs, settings.inputs_seed)
    except ValueError as err:
        raise ValueError(f"datasets.{dataset}: {err} (input_pool: {settings.input_pool})") from err
    with atomic_h5(out) as fh:
        set_attrs(fh, {"dataset": dataset, "seed": settings.inputs_seed, "n_inputs": len(targets),
                       "pool_size": len(pool), "pool_split": settings.input_pool,
                       "description": "targets drawn without replacement from the pool split; "
                                      "per target a seed of another class"})
        fh["target_index"], fh["target_label"] = targets, pool[targets]
        fh["seed_index"], fh["seed_label"] = seeds, pool[seeds]
        # Decoded once: inversion and extraction read these uint8 images instead of decoding JPEGs again.
        write_input_images(fh, pool_set, {"target_index": targets, "seed_index": seeds},
                           batch_size=settings.batch_size, num_workers=settings.num_workers)
    log.info("%d targets from the %s split (%d images)", len(targets), settings.input_pool, len(pool))


def fetch_checkpoint(url: str, out, *, sha256: Optional[str], source: dict, model: st.ModelSettings) -> None:
    """Download (or copy a local file), check the sha256 and that it loads strictly, then keep it."""
    from .checkpoints import CheckpointError, download

    out = Path(out)
    tmp = out.with_name(f".{out.name}.downloaded")
    log.info("fetching %s", url)
    download(url, tmp, sha256=sha256, progress=True)
    try:
        load_model(tmp, source, model)
    except CheckpointError as err:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{err} (fetched from {url})") from err
    os.replace(tmp, out)
    log.info("saved %s", out)


# ---------------------------------------------------------------- training and evaluation
def train(source: dict, model: st.ModelSettings, settings: st.TrainSettings, *, dataset: str, model_name: str,
          out, resume, device=None, summary=None) -> dict:
    """Train one model at one ε (L2-PGD adversarial training; ε = 0 is standard training). ``summary``: the
    data set's dataset.json, which the data must still match."""
    from . import distributed
    from .data import check_content
    from .models import create_model
    from .runtime import pick_device
    from .sources import what_it_is
    from .training import seed_everything, train_model

    if summary is not None:  # once, before any DDP rank starts
        check_content(source, summary)
    if settings.gpus > 1 and not distributed.under_torchrun():  # DDP: this function again on every rank
        training = st.as_params(settings) | {k: getattr(settings, k) for k in st.execution_fields(st.TrainSettings)}
        return distributed.launch("robuniv.jobs:train_on_rank", dict(
            source=source, model=st.as_params(model), training=training, dataset=dataset,
            model_name=model_name, out=str(out), resume=None if resume is None else str(resume),
            device=None if device is None else str(device)), settings.gpus)
    spec = model_spec(source, model)
    train_set = open_split(source, "train", augment=settings.augment)
    seed_everything(settings.seed)  # the initial weights depend on the model's seed only
    net = create_model(**spec)
    # Everything that determines the weights: a resume file of any other run is ignored.
    identity = {"spec": spec, "source": what_it_is(source)}
    meta = {"dataset": dataset, "model": model_name, "eps": settings.eps,
            **{k: (json.dumps(v) if isinstance(v, (list, tuple, dict)) else v) for k, v in spec.items()}}
    summary = train_model(net, train_set, settings, checkpoint_path=out, resume_path=resume, meta=meta,
                          identity=identity, device=device or pick_device())
    log.info("done: %s", summary["history"][-1] if summary["history"] else summary)
    return summary


def train_on_rank(*, model: dict, training: dict, **arguments) -> dict:
    """:func:`train` on one DDP rank, from the JSON arguments that :func:`robuniv.distributed.launch` passes."""
    return train(model=st.from_params(st.ModelSettings, model), settings=st.from_params(st.TrainSettings, training),
                 **arguments)


def evaluate(checkpoint, source: dict, model: st.ModelSettings, settings: st.EvaluationSettings, *, dataset: str,
             model_name: str, eps, out, sha256=None, device=None,
             data_settings: st.DatasetSettings = st.DatasetSettings(), summary=None) -> dict:
    """Clean accuracy, and adversarial accuracy at the model's ε and at every fixed attack ε (the data set's
    precision and DataLoader workers). ``summary``: the data set's dataset.json, which the data must match."""
    from .data import check_content
    from .runtime import pick_device, write_json
    from .training import evaluate as evaluate_model

    if summary is not None:
        check_content(source, summary)
    eval_set = open_split(source, "eval")
    net = load_model(checkpoint, source, model, sha256)
    attacks = []
    for attack_eps in settings.attack_eps(float(eps)):
        result = evaluate_model(net, eval_set, attack_eps=attack_eps, attack_steps=settings.attack_steps,
                                attack_step_factor=settings.attack_step_factor, batch_size=settings.batch_size,
                                max_images=settings.max_images, device=device or pick_device(),
                                precision=data_settings.precision, num_workers=data_settings.num_workers,
                                threat=settings.threat)
        log.info("attack ε=%g: clean %.4f adversarial %.4f", attack_eps, result["clean_accuracy"],
                 result["adversarial_accuracy"])
        attacks.append(result)
    record = {"dataset": dataset, "model": model_name, "arch": model.arch, "eps": float(eps),
              "checkpoint": str(checkpoint),
              "checkpoint_sha256": _checkpoint_sha256(checkpoint, sha256), "n_images": attacks[0]["n_images"],
              "clean_accuracy": attacks[0]["clean_accuracy"], "attacks": attacks}
    write_json(record, out)
    return record


def _read_json(path) -> dict:
    with open(path) as fh:
        return json.load(fh)


def accuracy_table(evaluation_files: Iterable, out) -> None:
    from .tables import accuracy_rows, write_csv

    write_csv(accuracy_rows([_read_json(path) for path in evaluation_files]), out)


# ---------------------------------------------------------------- inversion and activations
def _inversion_datasets(fh, n: int, image_shape: tuple):
    """The ``images`` (chunked, compressed) and ``loss`` datasets of an inverted-images file, filled per batch."""
    images = fh.create_dataset("images", shape=(n, *image_shape), dtype="uint8", chunks=(min(n, 64), *image_shape),
                               compression="gzip")
    images.attrs["description"] = "inverted images, uint8 = round(255 * x)"
    losses = fh.create_dataset("loss", shape=(n,), dtype="float32")
    losses.attrs["description"] = "relative feature loss ||f(s') - f(x)|| / ||f(x)|| of the kept (best) iterate"
    return images, losses


def _tie_channels(settings: st.InversionSettings, source: dict) -> bool:
    """Tie the gradient's channels where configured, else for grayscale sources."""
    from .sources import get_source

    return get_source(source["source"]).grayscale if settings.tie_channels is None else settings.tie_channels


def invert_images(checkpoint, inputs, source: dict, model: st.ModelSettings, settings: st.InversionSettings,
                  data_settings: st.DatasetSettings, *, dataset: str, model_name: str, eps, out, sha256=None,
                  device=None, rows: Optional[Sequence[int]] = None) -> float:
    """Invert the model's representation of every target (``rows``: of the targets [start, stop), one shard)
    from its seed; stream batches into HDF5."""
    from tqdm import tqdm

    from .h5io import atomic_h5, read_inputs, set_attrs
    from .inversion import invert, to_uint8
    from .loading import pair_batches
    from .precision import wrap
    from .runtime import pick_device

    device = device or pick_device()
    pairs = read_inputs(inputs)
    start, stop = (0, len(pairs["target_index"])) if rows is None else (int(rows[0]), int(rows[1]))
    net = load_model(checkpoint, source, model, sha256).to(device)
    forward = wrap(net, device, data_settings.precision)  # bf16: forward passes under autocast
    tie = _tie_channels(settings, source)
    batches = pair_batches(inputs, pairs, lambda: open_split(source, pairs["pool_split"]), data_settings.batch_size,
                           device=device, num_workers=data_settings.num_workers, rows=(start, stop))
    n = stop - start
    bar = tqdm(total=n, desc=f"invert {model_name} eps {eps} rows {start}-{stop}", mininterval=10)
    with atomic_h5(out) as fh:
        set_attrs(fh, {**_model_attrs(dataset, eps, model_name, source, model, checkpoint, sha256),
                       **st.as_params(st.replace(settings, tie_channels=bool(tie))),
                       "objective": "||f(s') - f(x)||_2 / ||f(x)||_2, best iterate",
                       "precision": data_settings.precision,
                       "shard_rows": [start, stop], "n_targets": len(pairs["target_index"]),
                       "rows": f"rows [{start}, {stop}) of the comparison inputs (target_index, seed_index)"})
        images = losses = None
        for sl, seeds, targets in batches:  # images and losses stay float32
            inverted, loss = invert(forward, seeds, targets, iterations=settings.iterations,
                                    step_size=settings.step_size, momentum=settings.momentum, tie_channels=tie)
            if images is None:
                images, losses = _inversion_datasets(fh, n, tuple(inverted.shape[1:]))
            images[sl] = to_uint8(inverted).cpu().numpy()
            losses[sl] = loss.cpu().numpy()
            bar.update(sl.stop - sl.start)
            log.info("inverted %d/%d, mean relative loss so far %.4f", sl.stop, n, float(np.mean(losses[: sl.stop])))
        for name in ("target_index", "seed_index", "target_label"):
            fh[name] = pairs[name][start:stop]
        mean_loss = float(np.mean(losses[()]))
    log.info("mean relative loss %.4f", mean_loss)
    return mean_loss


def _inverted_batches(inverted, pairs: dict, batch_size):
    """(positions, images, labels, target index) of one model's inverted images (an opened
    :class:`robuniv.h5io.InvertedImages`) in batches of ``batch_size`` from row 0 (a batch may span two shards)."""
    from .inversion import from_uint8

    labels, targets = pairs["target_label"], pairs["target_index"]
    for start in range(0, len(inverted), batch_size):
        pos = np.arange(start, min(len(inverted), start + batch_size))
        yield pos, from_uint8(inverted.read(start, pos[-1] + 1)), labels[pos], targets[pos]


def extract_activations(checkpoint, inputs, source: dict, model: st.ModelSettings, data_settings: st.DatasetSettings,
                        *, dataset: str, model_name: str, eps, input_set: str, out, images=None, sha256=None,
                        device=None) -> None:
    """Representations and logits of one model on one input set (regular, or another model's inversions)."""
    from .extract import write_activations
    from .h5io import H5Error, InvertedImages, read_inputs
    from .loading import target_batches
    from .runtime import pick_device

    device = device or pick_device()
    batch_size = data_settings.batch_size
    pairs = read_inputs(inputs)
    targets, labels = pairs["target_index"], pairs["target_label"]
    net = load_model(checkpoint, source, model, sha256)
    if input_set == "regular":
        batches = target_batches(inputs, pairs, lambda: open_split(source, pairs["pool_split"]), batch_size,
                                 device=device, num_workers=data_settings.num_workers)
    else:
        inverted = InvertedImages(images, pairs)  # its shards checked against each other and these inputs
        batches = _inverted_batches(inverted, pairs, batch_size)
    attrs = {**_model_attrs(dataset, eps, model_name, source, model, checkpoint, sha256), "inputs": input_set,
             "labels": "true class of the target image",
             "index": f"index of the target in the {pairs['pool_split']} split", "pool_split": pairs["pool_split"]}
    if input_set == f"inverted-{model_name}":  # its own inversions: made with this very checkpoint?
        made_with = str(inverted.attrs.get("checkpoint_sha256"))
        if made_with != attrs["checkpoint_sha256"]:
            raise H5Error(f"checkpoint {checkpoint} (sha256 {attrs['checkpoint_sha256'][:12]}…) is not the one "
                          f"{model_name}'s inverted images were made with ({made_with[:12]}…): it was replaced "
                          "after the inversion; rerun the inversion (snakemake -R invert_images)")
    write_activations(net, batches, out, n=len(targets), attrs=attrs, device=device,
                      precision=data_settings.precision)
    log.info("%d inputs of %s", len(targets), input_set)


def per_model_steps(activations, k: int, settings: st.SimilaritySettings, knn_out, summary_out,
                    device=None) -> None:
    """Both per-model steps of one activation file (the workflow's summarise_representations job): its
    representation is read and moved to the device once, then the kNN graph and the summary are written."""
    act, reps = _representations(activations, device)
    _write_knn_graph(act, reps, k, knn_out)
    _write_summary(act, reps, settings, summary_out)


def build_knn_graph(activations, k: int, out, device=None) -> None:
    """Per-model precomputation (netrep style): one top-k search serves every Jaccard k of every pair."""
    _write_knn_graph(*_representations(activations, device), k, out)


def summarise_representations(activations, settings: st.SimilaritySettings, out, device=None) -> None:
    """Per-model steps of the pair measures (netrep style): norms of the centred representation and, with RTD,
    its distance matrices on the RTD subsets; every pair with this model reads them instead of computing them."""
    _write_summary(*_representations(activations, device), settings, out)


def _representations(activations, device=None):
    """An activation file (:func:`robuniv.h5io.read_activations`, its ``path`` recorded) and its
    representation as a tensor on the job's device."""
    import torch

    from .h5io import read_activations
    from .runtime import pick_device

    act = read_activations(activations)
    return act, torch.from_numpy(act["representations"]).to(device or pick_device())


def _write_knn_graph(act: dict, reps, k: int, out) -> None:
    from .h5io import activations_id, atomic_h5
    from .similarity import knn_graph

    if k >= len(reps):
        raise ValueError(f"kNN k={k} needs more than {len(reps)} inputs ({act['path']})")
    graph = knn_graph(reps, k)
    with atomic_h5(out) as fh:
        fh["knn"] = graph
        fh.attrs.update({"k": k, "metric": "cosine of column-centred representations, self excluded",
                         "order": "most similar first", "activations": str(act["path"]),
                         "activations_sha256": activations_id(act)})
    log.info("%d inputs, representation width %d, kNN k=%d", len(reps), reps.shape[1], k)


def _write_summary(act: dict, reps, settings: st.SimilaritySettings, out) -> None:
    from .h5io import write_summary
    from .similarity import summarise

    summary = summarise(reps, rtd_trials=settings.rtd_trials if settings.rtd else None, rtd_batch=settings.rtd_batch,
                        rtd_seed=settings.rtd_seed, name=str(act["path"]))
    write_summary(out, summary, activations=act)
    log.info("%d inputs; RTD distances: %s", summary.n, "none" if summary.rtd is None else
             f"{summary.rtd['trials']} x {summary.rtd['batch']}")


def extract_train_features(checkpoint, source: dict, model: st.ModelSettings, data_settings: st.DatasetSettings, *,
                           dataset: str, model_name: str, eps, out, sha256=None, device=None, summary=None) -> None:
    """Frozen features of one model on the training split (inputs of the linear probes). ``summary``: the data
    set's dataset.json, which the data must still match."""
    from .data import check_content
    from .extract import write_activations
    from .loading import image_batches
    from .runtime import pick_device

    if summary is not None:
        check_content(source, summary)
    device = device or pick_device()
    train = open_split(source, "train")  # no augmentation: the probe sees fixed features
    index = np.arange(len(train))
    net = load_model(checkpoint, source, model, sha256)
    batches = ((pos, x, y, index[pos]) for pos, x, y in image_batches(
        train, index, data_settings.batch_size, device=device, num_workers=data_settings.num_workers))
    attrs = {**_model_attrs(dataset, eps, model_name, source, model, checkpoint, sha256), "inputs": "train split"}
    write_activations(net, batches, out, n=len(index), attrs=attrs, device=device,
                      precision=data_settings.precision, logits=False)  # the probes need no logits
    log.info("%d training images", len(index))


def train_probes(train_features, regular_activations, settings: st.ProbeSettings, *, dataset: str, model_name: str,
                 eps, out, device=None) -> list[float]:
    """Linear probes (fresh Linear(D, C), one per seed) on frozen training features; their logits on the
    regular comparison inputs. Where those inputs are training images (``input_pool: train``, ImageNet100),
    they are left out of the probes' training set, so the probes are evaluated on images they never saw."""
    from .analyses import probe_logits, train_linear_probe
    from .h5io import atomic_h5, open_h5, read_activations, set_attrs
    from .runtime import pick_device

    held_out = read_activations(regular_activations)
    num_classes = held_out["logits"].shape[1]
    attrs = held_out["attrs"]
    pool = attrs.get("pool_split") or ("train" if "train split" in str(attrs.get("index", "")) else "eval")
    logits, accuracies = [], []
    # The training features stay on disk: the probe streams them in shuffled blocks.
    with open_h5(train_features) as train:
        labels = train["labels"][()]
        exclude = np.flatnonzero(np.isin(train["index"][()], held_out["index"])) if pool == "train" else None
        if exclude is not None:
            log.info("%d comparison inputs are training images: left out of the probes' training set", len(exclude))
        for seed in range(settings.n_probes):
            probe = train_linear_probe(train["representations"], labels, num_classes, epochs=settings.epochs,
                                       batch_size=settings.batch_size, lr=settings.lr, final_lr=settings.final_lr,
                                       seed=seed, device=device or pick_device(), exclude=exclude)
            out_logits = probe_logits(probe, held_out["representations"])
            logits.append(out_logits)
            accuracies.append(float((out_logits.argmax(1) == held_out["labels"]).mean()))
            log.info("probe seed %d: held-out accuracy %.4f", seed, accuracies[-1])
    with atomic_h5(out) as fh:
        set_attrs(fh, {"dataset": dataset, "eps": float(eps), "model": model_name, "optimizer": "Adam",
                       "lr": settings.lr, "final_lr": settings.final_lr, "epochs": settings.epochs,
                       "batch_size": settings.batch_size, "schedule": "cosine, per batch",
                       "evaluated_on": f"the regular comparison inputs ({pool} split)",
                       "held_out_of_training": 0 if exclude is None else len(exclude),
                       "n_train": len(labels) - (0 if exclude is None else len(exclude))})
        fh["logits"] = np.stack(logits).astype(np.float32)  # n_probes x N x C on the regular inputs
        fh["logits"].attrs["description"] = "probe logits on the regular comparison inputs, one slice per seed"
        fh["accuracy"] = np.asarray(accuracies)
        fh["labels"], fh["index"] = held_out["labels"], held_out["index"]
    return accuracies


# ---------------------------------------------------------------- comparisons
def compare_models(act_a, act_b, knn_a, knn_b, settings: st.SimilaritySettings, *, inputs: str, dataset: str, eps,
                   model_a: str, model_b: str, out, threads: Optional[int] = None, device=None, summary_a=None,
                   summary_b=None):
    """Every measure of one model pair on one input set (regular, or model A's inverted images) as tidy rows.
    ``summary_a``/``summary_b``: the models' :func:`summarise_representations` files (per-model steps)."""
    import torch

    from .h5io import check_same_inputs, read_activations, read_knn, read_summary
    from .runtime import pick_device
    from .similarity import compare_pair

    a, b = read_activations(act_a), read_activations(act_b)
    check_same_inputs(a, b)
    device = device or pick_device()
    reps_a, reps_b = (torch.from_numpy(np.ascontiguousarray(x["representations"])).to(device) for x in (a, b))
    k = max(settings.jaccard_k, default=0)
    graphs = read_knn(knn_a, a, k=k), read_knn(knn_b, b, k=k)  # each checked to be of its model's activations
    summaries = None
    if summary_a is not None and summary_b is not None:
        summaries = (read_summary(summary_a, a), read_summary(summary_b, b))
    try:
        values = compare_pair(a["logits"], b["logits"], reps_a, reps_b, ks=settings.jaccard_k,
                              graphs_a=graphs[0], graphs_b=graphs[1], rtd_trials=settings.rtd_trials,
                              rtd_batch=settings.rtd_batch, rtd_seed=settings.rtd_seed, with_rtd=settings.rtd,
                              rtd_jobs=threads, summaries=summaries)
    except ValueError as err:
        raise ValueError(f"comparing {act_a} with {act_b}: {err}") from err
    return _write_pair_rows(values, out, dataset=dataset, eps=eps, inputs=inputs, model_a=model_a, model_b=model_b)


def _write_pair_rows(values: dict, out, *, dataset: str, eps, inputs: str, model_a: str, model_b: str) -> list[dict]:
    """One pair's measures as tidy rows (the source of inverted images is model A), written to ``out``."""
    from .pair_rows import similarity_records, write_similarity_csv  # not pandas: 0.15 s of every such job

    rows = similarity_records(values, dataset=dataset, eps=float(eps), inputs=inputs,
                              source=model_a if inputs == "inverted" else "", model_a=model_a, model_b=model_b)
    write_similarity_csv(rows, out)
    log.info("%s", {row["measure"]: row["value"] for row in rows})
    return rows


def compare_catalogue(act_a, act_b, family: str, settings: dict, *, inputs: str, dataset: str, eps, model_a: str,
                      model_b: str, out):
    """Every measure of one catalogue family (robuniv.catalogue) for one model pair on one input set."""
    from .catalogue import compute_family
    from .h5io import check_same_inputs, read_activations

    a, b = read_activations(act_a), read_activations(act_b)
    check_same_inputs(a, b)
    try:
        values = compute_family(family, a["representations"], b["representations"], settings,
                                names=(str(act_a), str(act_b)))
    except ValueError as err:
        raise ValueError(f"comparing {act_a} with {act_b} ({family} measures): {err}") from err
    return _write_pair_rows(values, out, dataset=dataset, eps=eps, inputs=inputs, model_a=model_a, model_b=model_b)


def compare_subgroups(act_a, act_b, subgroups: st.SubgroupSettings, similarity: st.SimilaritySettings, *,
                      dataset: str, eps, model_a: str, model_b: str, out):
    """Analysis 4 for one regular-image pair: the representational measures on the inputs where it agrees /
    disagrees, and on size-matched random subsets of the agreeing inputs."""
    from .analyses import agreement_mask, subgroup_measures
    from .h5io import check_same_inputs, read_activations
    from .tables import SUBGROUP_TABLE_COLUMNS, write_csv

    a, b = read_activations(act_a), read_activations(act_b)
    check_same_inputs(a, b)
    mask = agreement_mask(a["logits"], b["logits"])
    frame = subgroup_measures(a["representations"], b["representations"], mask, minimum=subgroups.min_size,
                              k=subgroups.k, rtd_trials=similarity.rtd_trials, rtd_batch=similarity.rtd_batch,
                              rtd_seed=similarity.rtd_seed, with_rtd=similarity.rtd,
                              matched_draws=subgroups.matched_draws, matched_seed=subgroups.seed)
    frame = frame.assign(dataset=dataset, eps=float(eps), model_a=model_a, model_b=model_b)[SUBGROUP_TABLE_COLUMNS]
    write_csv(frame, out)
    log.info("inputs per subgroup: %s", frame.groupby("subgroup")["n_inputs"].first().to_dict())
    return frame


# ---------------------------------------------------------------- tables and figures
def similarity_tables(comparison_files: Iterable, spearman: st.SpearmanSettings, *, similarity_out,
                      spearman_out, measures: Optional[Sequence[str]] = None) -> None:
    """similarity.csv (every comparison) and spearman.csv (each measure's rank correlation with ε).
    ``measures``: the representation measures to keep (``similarity.measures``; None: all), besides the
    prediction measures, which are always kept."""
    from .measures import prediction_measures
    from .tables import read_csvs, similarity_table, spearman_table, write_csv, SIMILARITY_COLUMNS

    frame = read_csvs(comparison_files, SIMILARITY_COLUMNS, keep_default_na=False, required=SIMILARITY_COLUMNS,
                      keys=SIMILARITY_COLUMNS[:-1], numeric=("eps", "value"))
    if measures is not None:
        frame = frame[frame["measure"].isin([*prediction_measures(), *measures])]
    frame = similarity_table(frame)
    write_csv(frame, similarity_out)
    write_csv(spearman_table(frame, n_resamples=spearman.n_resamples, seed=spearman.seed), spearman_out)


def analysis_tables(*, similarity_path, subgroup_paths: Sequence, probe_paths: Sequence, eval_paths: Sequence,
                    regular_paths: Sequence, dataset_paths: Sequence, subgroups: Mapping[str, st.SubgroupSettings],
                    outputs: Optional[Mapping] = None) -> dict:
    """Analyses 4-6 from their files: {"subgroups", "subgroup_tests", "probes", "agreement_bounds": table},
    each written to ``outputs[name]`` where given. ``subgroups``: the settings of each data set."""
    import pandas as pd

    from .h5io import read_error_rates, read_probes
    from .tables import (SUBGROUP_TABLE_COLUMNS, agreement_bounds_table, probe_table, read_csvs,
                         subgroup_test_table, write_csv)

    similarity = pd.read_csv(similarity_path, keep_default_na=False)
    subgroup_rows = read_csvs(subgroup_paths, SUBGROUP_TABLE_COLUMNS, required=SUBGROUP_TABLE_COLUMNS[:-2],
                              keys=("dataset", "eps", "model_a", "model_b", "subgroup", "measure"),
                              numeric=("eps", "value", "n_inputs", "std", "n_draws"))
    accuracy = {(r["dataset"], r["model"], float(r["eps"])): r["clean_accuracy"] for r in map(_read_json, eval_paths)}
    num_classes = {s["dataset"]: int(s["num_classes"]) for s in map(_read_json, dataset_paths)}
    tables = {"subgroups": subgroup_rows, "subgroup_tests": subgroup_test_table(subgroup_rows, subgroups),
              "probes": probe_table(read_probes(probe_paths), similarity),
              "agreement_bounds": agreement_bounds_table(similarity, accuracy, read_error_rates(regular_paths),
                                                         num_classes)}
    for name, frame in tables.items():
        if outputs is not None:
            write_csv(frame, outputs[name])
    return tables


def plot_figures(names: Sequence[str], table_paths: Mapping, outputs, settings: st.FigureSettings, *,
                 keep_default_na: bool = True) -> None:
    """The named figures of one figure rule from its tables."""
    import pandas as pd

    from .plots import make_figures

    tables = {name: pd.read_csv(path, keep_default_na=keep_default_na) for name, path in table_paths.items()}
    make_figures(names, tables, outputs, settings)


def figure_inversions(inputs, inverted: Mapping, source: dict, settings: st.FigureSettings, *, title: str,
                      outputs: Mapping) -> None:
    """Seeds, targets and every model's inverted images of one data set and ε (``inverted``: model -> its
    inverted-image files, the shards in row order)."""
    from .plots import inversion_figure

    inversion_figure(inputs, dict(inverted), source, title=title, outputs=dict(outputs), settings=settings)


def figure_inversions_by_eps(inputs, inverted_by_eps: Mapping, source: dict, settings: st.FigureSettings, *,
                             model: str, dataset: str, outputs: Mapping) -> None:
    """Paper figure 2: one model's inverted images at every ε (``inverted_by_eps``: ε -> the
    model's inverted-image files)."""
    from .plots import inversion_eps_figure

    inversion_eps_figure(inputs, dict(inverted_by_eps), source, model=model, dataset=dataset, outputs=dict(outputs),
                         settings=settings)
