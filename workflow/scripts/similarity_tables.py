"""Gather every comparison into the similarity table and Spearman's ρ of each measure vs ε."""
from robuniv.runtime import setup_job
from robuniv.tables import similarity_table, spearman_table, write_csv

setup_job(snakemake.log[0])
frame = similarity_table(snakemake.input)
write_csv(frame, snakemake.output.similarity)
write_csv(spearman_table(frame, n_resamples=snakemake.params.n_resamples), snakemake.output.spearman)
