"""Frozen features of one model on the training split (inputs of the linear probes), streamed to HDF5."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import DatasetSettings, ModelSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
p, w = snakemake.params, snakemake.wildcards
jobs.extract_train_features(snakemake.input.checkpoint, p.source, from_params(ModelSettings, p.model),
                            from_params(DatasetSettings, p.dataset), dataset=w.dataset, model_name=w.model,
                            eps=w.eps, out=snakemake.output[0], sha256=p.sha256)
