"""One regular-image pair: CKA, ProcrustesSim, Jaccard@k, RTD on the inputs where it agrees / disagrees."""
import pandas as pd

from robuniv.analyses import agreement_mask, subgroup_measures
from robuniv.h5io import read_activations
from robuniv.runtime import setup_job
from robuniv.tables import write_csv

log = setup_job(snakemake.log[0], snakemake.threads)
w, settings, rtd = snakemake.wildcards, snakemake.params.subgroups, snakemake.params.similarity
a, b = read_activations(snakemake.input.act_a), read_activations(snakemake.input.act_b)
mask = agreement_mask(a["logits"], b["logits"])
values = subgroup_measures(a["representations"], b["representations"], mask, minimum=settings["min_size"],
                           k=settings["k"], rtd_trials=rtd["rtd_trials"], rtd_batch=rtd["rtd_batch"],
                           rtd_seed=rtd["rtd_seed"])
rows = [{"dataset": w.dataset, "eps": float(w.eps), "model_a": w.model_a, "model_b": w.model_b, "subgroup": group,
         "measure": measure, "value": value, "n_inputs": int(values[(group, "n_inputs")])}
        for (group, measure), value in values.items() if measure != "n_inputs"]
write_csv(pd.DataFrame(rows), snakemake.output[0])
log.info("agree %d, disagree %d inputs", int(mask.sum()), int((~mask).sum()))
