"""Per-model steps of the pair measures on one input set (norms, RTD distances): computed once, read by every pair."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import SimilaritySettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
jobs.summarise_representations(snakemake.input[0], from_params(SimilaritySettings, snakemake.params.rtd),
                               snakemake.output[0])
