"""Gather every comparison into results/tables/similarity.csv and Spearman's ρ of each measure vs ε."""
import pandas as pd

from robuniv.runtime import setup_job
from robuniv.tables import spearman_table, write_csv

setup_job(snakemake.log[0])
frame = pd.concat([pd.read_csv(p, keep_default_na=False) for p in snakemake.input], ignore_index=True)
frame = frame.sort_values(["dataset", "inputs", "measure", "eps", "model_a", "model_b"], kind="stable")
write_csv(frame, snakemake.output.similarity)
write_csv(spearman_table(frame), snakemake.output.spearman)
