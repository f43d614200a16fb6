"""Representations and logits of one model on one input set (regular or another model's inverted images)."""
import h5py
import numpy as np
import torch

from robuniv.checkpoints import file_sha256, load_robustness_checkpoint
from robuniv.data import iter_images, load_split
from robuniv.h5io import atomic_h5, read_activations, read_inputs
from robuniv.extract import write_activations
from robuniv.inversion import from_uint8
from robuniv.models import representation_layer
from robuniv.runtime import pick_device, setup_job
from robuniv.similarity import knn_graph

log = setup_job(snakemake.log[0], snakemake.threads)
device = pick_device()
w, bs = snakemake.wildcards, snakemake.params.batch_size
pairs = read_inputs(snakemake.input.inputs)
targets, labels = pairs["target_index"], pairs["target_label"]
n = len(targets)
model = load_robustness_checkpoint(snakemake.input.checkpoint, **snakemake.params.spec)

if w.inputs == "regular":
    source = dict(snakemake.params.source)
    pool = load_split(source.pop("source"), "eval", source)
    batches = ((pos, images, lab, targets[pos]) for pos, images, lab in iter_images(pool, targets, bs))
else:
    def inverted_batches(path):
        with h5py.File(path, "r") as fh:
            for start in range(0, n, bs):
                pos = np.arange(start, min(n, start + bs))
                yield pos, from_uint8(fh["images"][start:pos[-1] + 1]), labels[pos], targets[pos]
    batches = inverted_batches(snakemake.input.images)

attrs = {"dataset": w.dataset, "eps": float(w.eps), "model": w.model, "arch": snakemake.params.spec["arch"],
         "layer": representation_layer(snakemake.params.spec["arch"], snakemake.params.spec["variant"]), "inputs": w.inputs,
         "checkpoint": snakemake.input.checkpoint, "checkpoint_sha256": file_sha256(snakemake.input.checkpoint),
         "labels": "true class of the target image", "index": "index of the target in the evaluation split"}
write_activations(model, batches, snakemake.output.activations, n=n, attrs=attrs, device=device)

# Per-model precomputation (netrep style): one top-k search serves every Jaccard k of every pair.
reps = read_activations(snakemake.output.activations)["representations"]
k = snakemake.params.knn_k
graph = knn_graph(torch.from_numpy(reps).to(device), k)
with atomic_h5(snakemake.output.knn) as fh:
    fh["knn"] = graph
    fh.attrs.update({"k": k, "metric": "cosine of column-centred representations, self excluded",
                     "order": "most similar first", "activations": snakemake.output.activations})
log.info("%d inputs, representation width %d, kNN k=%d", n, reps.shape[1], k)
