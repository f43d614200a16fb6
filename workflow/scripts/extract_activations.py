"""Representations and logits of one model on one input set (regular or another model's inverted images)."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
job, w, i = JobSettings(snakemake), snakemake.wildcards, snakemake.input
jobs.extract_activations(i.checkpoint, i.inputs, job.source(), job.model(), job.dataset_settings(), dataset=w.dataset,
                         model_name=w.model, eps=w.eps, input_set=w.inputs, out=snakemake.output[0],
                         images=i.get("images"), sha256=snakemake.params.sha256)
