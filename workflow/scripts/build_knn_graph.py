"""The kNN graph of one model on one input set: computed once, serves every Jaccard k and pair."""
from robuniv import jobs
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
jobs.build_knn_graph(snakemake.input[0], snakemake.params.k, snakemake.output[0])
