"""Representations and logits of one model on one input set (regular or another model's inverted images)."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import DatasetSettings, ModelSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
p, w, i = snakemake.params, snakemake.wildcards, snakemake.input
jobs.extract_activations(i.checkpoint, i.inputs, p.source, from_params(ModelSettings, p.model),
                         from_params(DatasetSettings, p.dataset), dataset=w.dataset, model_name=w.model,
                         eps=w.eps, input_set=w.inputs, out=snakemake.output[0], images=i.get("images"),
                         sha256=p.sha256)
