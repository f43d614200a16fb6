"""Sample the comparison inputs of a data set once: targets and seeds of a different class."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
job = JobSettings(snakemake)
jobs.prepare_inputs(job.source(), job.dataset_settings(), job.dataset, snakemake.output[0],
                    summary=snakemake.input[0])
