"""Check a data set's splits and record its summary (size, classes, normalisation)."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
job = JobSettings(snakemake)
jobs.prepare_dataset(job.source(), job.dataset, snakemake.output[0])
