"""Invert one model's representation of every target, starting from its seed image (Ilyas et al. 2019)."""
import numpy as np
import torch
from tqdm import tqdm

from robuniv.checkpoints import load_robustness_checkpoint
from robuniv.data import load_split
from robuniv.h5io import atomic_h5, read_inputs, set_attrs
from robuniv.inversion import invert, to_uint8
from robuniv.runtime import pick_device, setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
device = pick_device()
settings, w = snakemake.params.inversion, snakemake.wildcards
pairs = read_inputs(snakemake.input.inputs)
source = dict(snakemake.params.source)
pool = load_split(source.pop("source"), "eval", source)
model = load_robustness_checkpoint(snakemake.input.checkpoint, **snakemake.params.spec).to(device)
n, bs = len(pairs["target_index"]), snakemake.params.batch_size
bar = tqdm(total=n, desc=f"invert {w.model} eps {w.eps}", mininterval=10)
with atomic_h5(snakemake.output[0]) as fh:
    set_attrs(fh, {"dataset": w.dataset, "eps": float(w.eps), "model": w.model, "arch": snakemake.params.spec["arch"],
                   "iterations": settings["iterations"], "step_size": settings["step_size"],
                   "momentum": settings["momentum"], "objective": "||f(s') - f(x)||_2 / ||f(x)||_2, best iterate"})
    images = losses = None
    for start in range(0, n, bs):
        sl = slice(start, min(n, start + bs))
        targets = torch.stack([pool[int(i)][0] for i in pairs["target_index"][sl]]).to(device)
        seeds = torch.stack([pool[int(i)][0] for i in pairs["seed_index"][sl]]).to(device)
        inverted, loss = invert(model, seeds, targets, **settings)
        if images is None:  # chunked, compressed, filled batch by batch
            images = fh.create_dataset("images", shape=(n, *inverted.shape[1:]), dtype="uint8",
                                       chunks=(min(n, 64), *inverted.shape[1:]), compression="gzip")
            images.attrs["description"] = "inverted images, uint8 = round(255 * x)"
            losses = fh.create_dataset("loss", shape=(n,), dtype="float32")
            losses.attrs["description"] = "relative feature loss of the kept (best) iterate"
        images[sl] = to_uint8(inverted).cpu().numpy()
        losses[sl] = loss.cpu().numpy()
        bar.update(sl.stop - sl.start)
        bar.set_postfix(mean_loss=float(np.mean(losses[: sl.stop])))
    fh["target_index"], fh["seed_index"] = pairs["target_index"], pairs["seed_index"]
    fh["target_label"] = pairs["target_label"]
    log.info("mean relative loss %.4f", float(np.mean(losses[()])))
