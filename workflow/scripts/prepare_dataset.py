"""Check a data set's splits and record its summary (size, classes, normalisation)."""
from robuniv import jobs
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
jobs.prepare_dataset(snakemake.params.source, snakemake.wildcards.dataset, snakemake.output[0])
