"""All similarity measures of one model pair on one input set, as tidy rows."""
import torch

from robuniv.h5io import H5Error, read_activations, read_knn
from robuniv.runtime import pick_device, setup_job
from robuniv.similarity import agreement, compare_representations, jsd_sim
from robuniv.tables import similarity_rows, write_csv

log = setup_job(snakemake.log[0], snakemake.threads)
device = pick_device()
w, settings = snakemake.wildcards, snakemake.params.similarity
a, b = (read_activations(p) for p in (snakemake.input.act_a, snakemake.input.act_b))
graph_a, graph_b = read_knn(snakemake.input.knn_a), read_knn(snakemake.input.knn_b)
if len(b["index"]) != len(a["index"]) or (b["index"] != a["index"]).any():
    raise H5Error(f"{snakemake.input.act_b}: its inputs differ from {snakemake.input.act_a}'s (index mismatch)")
values = {"agreement": agreement(a["logits"], b["logits"]), "jsd_sim": jsd_sim(a["logits"], b["logits"])}
reps_a, reps_b = (torch.from_numpy(x["representations"]).to(device) for x in (a, b))
try:
    values.update(compare_representations(
        reps_a, reps_b, ks=settings["jaccard_k"], graphs_a=graph_a, graphs_b=graph_b,
        rtd_trials=settings["rtd_trials"], rtd_batch=settings["rtd_batch"], rtd_seed=settings["rtd_seed"],
        with_rtd=settings["rtd"], rtd_jobs=snakemake.threads))
except ValueError as err:
    raise ValueError(f"comparing {snakemake.input.act_a} with {snakemake.input.act_b}: {err}") from err
kind = snakemake.params.kind
frame = similarity_rows(values, dataset=w.dataset, eps=float(w.eps), inputs=kind,
                        source=w.model_a if kind == "inverted" else "", model_a=w.model_a, model_b=w.model_b)
write_csv(frame, snakemake.output[0])
log.info("%s", values)
