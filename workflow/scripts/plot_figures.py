"""Paper figures 1, 3, 4 and 8 from the similarity tables."""
import pandas as pd

from robuniv import catalog, plots
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
tables = {name: pd.read_csv(path, keep_default_na=False) for name, path in snakemake.input.items()}
plots.make_figures(catalog.FIGURES_BY_RULE[snakemake.rule], tables, snakemake.output, snakemake.params.figures)
