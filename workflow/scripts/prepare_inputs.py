"""Sample the comparison inputs of a data set once: targets and seeds of a different class."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import DatasetSettings, from_params

setup_job(snakemake.log[0])
jobs.prepare_inputs(snakemake.params.source, from_params(DatasetSettings, snakemake.params.dataset),
                    snakemake.wildcards.dataset,
                    snakemake.output[0])
