"""Linear probes (fresh Linear(D, C), n_probes seeds) on one model's frozen training features;
their logits on the regular comparison inputs."""
import numpy as np

from robuniv.analyses import probe_logits, train_linear_probe
from robuniv.h5io import atomic_h5, read_activations, set_attrs
from robuniv.runtime import pick_device, setup_job

log = setup_job(snakemake.log[0], snakemake.threads)
settings, w = snakemake.params.probes, snakemake.wildcards
train = read_activations(snakemake.input.train)
held_out = read_activations(snakemake.input.regular)
num_classes = held_out["logits"].shape[1]
logits, accuracies = [], []
for seed in range(settings["n_probes"]):
    probe = train_linear_probe(train["representations"], train["labels"], num_classes, epochs=settings["epochs"],
                               batch_size=settings["batch_size"], lr=settings["lr"], final_lr=settings["final_lr"],
                               seed=seed, device=pick_device())
    out = probe_logits(probe, held_out["representations"])
    logits.append(out)
    accuracies.append(float((out.argmax(1) == held_out["labels"]).mean()))
    log.info("probe seed %d: held-out accuracy %.4f", seed, accuracies[-1])
with atomic_h5(snakemake.output[0]) as fh:
    set_attrs(fh, {"dataset": w.dataset, "eps": float(w.eps), "model": w.model, "optimizer": "Adam",
                   "lr": settings["lr"], "final_lr": settings["final_lr"], "epochs": settings["epochs"],
                   "batch_size": settings["batch_size"], "schedule": "cosine, per batch"})
    fh["logits"] = np.stack(logits).astype(np.float32)  # n_probes x N x C on the regular inputs
    fh["logits"].attrs["description"] = "probe logits on the regular comparison inputs, one slice per seed"
    fh["accuracy"] = np.asarray(accuracies)
    fh["labels"], fh["index"] = held_out["labels"], held_out["index"]
