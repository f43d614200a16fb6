"""Frozen features of one model on the training split (inputs of the linear probes), streamed to HDF5."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
job, w = JobSettings(snakemake), snakemake.wildcards
jobs.extract_train_features(snakemake.input.checkpoint, job.source(), job.model(), job.dataset_settings(),
                            dataset=w.dataset, model_name=w.model, eps=w.eps, out=snakemake.output[0],
                            sha256=snakemake.params.sha256, summary=snakemake.input.dataset)
