"""Fetch a released robust checkpoint (URL or local path), check its sha256 and that it loads strictly."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
job, p = JobSettings(snakemake), snakemake.params
jobs.fetch_checkpoint(p.url, snakemake.output[0], sha256=p.sha256, source=job.source(), model=job.model())
