"""Frozen features of one model on the training split (inputs of the linear probes), streamed to HDF5."""
import numpy as np

from robuniv.checkpoints import load_robustness_checkpoint
from robuniv.data import iter_images, load_split
from robuniv.extract import write_activations
from robuniv.models import representation_layer
from robuniv.runtime import pick_device, setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
w, bs = snakemake.wildcards, snakemake.params.batch_size
source = dict(snakemake.params.source)
train = load_split(source.pop("source"), "train", source)  # no augmentation: the probe sees fixed features
index = np.arange(len(train))
model = load_robustness_checkpoint(snakemake.input.checkpoint, **snakemake.params.spec)
batches = ((pos, images, labels, index[pos]) for pos, images, labels in iter_images(train, index, bs))
attrs = {"dataset": w.dataset, "eps": float(w.eps), "model": w.model, "arch": snakemake.params.spec["arch"],
         "layer": representation_layer(snakemake.params.spec["arch"], snakemake.params.spec["variant"]), "inputs": "train split",
         "checkpoint": snakemake.input.checkpoint}
write_activations(model, batches, snakemake.output[0], n=len(index), attrs=attrs, device=pick_device())
log.info("%d training images", len(index))
