"""Invert one model's representation of every target, starting from its seed image (Ilyas et al. 2019)."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job
from robuniv.settings import InversionSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
job, w = JobSettings(snakemake), snakemake.wildcards
jobs.invert_images(snakemake.input.checkpoint, snakemake.input.inputs, job.source(), job.model(),
                   from_params(InversionSettings, snakemake.params.inversion), job.dataset_settings(),
                   dataset=w.dataset, model_name=w.model, eps=w.eps, out=snakemake.output[0],
                   sha256=snakemake.params.sha256, rows=[int(r) for r in w.rows.split("-")])
