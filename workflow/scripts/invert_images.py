"""Invert one model's representation of every target, starting from its seed image (Ilyas et al. 2019)."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import DatasetSettings, InversionSettings, ModelSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
p, w = snakemake.params, snakemake.wildcards
jobs.invert_images(snakemake.input.checkpoint, snakemake.input.inputs, p.source, from_params(ModelSettings, p.model),
                   from_params(InversionSettings, p.inversion), from_params(DatasetSettings, p.dataset),
                   dataset=w.dataset, model_name=w.model,
                   eps=w.eps, out=snakemake.output[0], sha256=p.sha256)
