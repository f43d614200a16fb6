"""Fetch a released robust checkpoint (URL or local path), check its sha256 and that it loads strictly."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import ModelSettings, from_params

setup_job(snakemake.log[0])
p = snakemake.params
jobs.fetch_checkpoint(p.url, snakemake.output[0], sha256=p.sha256, source=p.source,
                      model=from_params(ModelSettings, p.model))
