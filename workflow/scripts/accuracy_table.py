"""Gather every model's evaluation into the accuracy table (paper tables 1-3)."""
from robuniv import jobs
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
jobs.accuracy_table(snakemake.input, snakemake.output.accuracy)
