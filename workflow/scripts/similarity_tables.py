"""Gather every comparison into the similarity table and Spearman's ρ of each measure vs ε."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import SpearmanSettings, from_params

setup_job(snakemake.log[0])
jobs.similarity_tables(snakemake.input, from_params(SpearmanSettings, snakemake.params.spearman),
                       similarity_out=snakemake.output.similarity, spearman_out=snakemake.output.spearman,
                       measures=snakemake.params.measures)
