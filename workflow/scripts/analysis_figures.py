"""Paper figures 5-7 from the analysis tables."""
import pandas as pd

from robuniv import catalog, plots
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
plots.make_figures(catalog.FIGURES_BY_RULE[snakemake.rule], tables, snakemake.output, snakemake.params.figures)
