"""Paper figures 5-7 from the analysis tables."""
import pandas as pd

from robuniv import plots
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
settings, prefix = snakemake.params.figures, snakemake.params.prefix
plots.set_style(settings)
tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
plots.save(plots.subgroup_figure(tables["subgroups"]), prefix + "fig5_subgroups", settings)
plots.save(plots.probe_figure(tables["probes"]), prefix + "fig6_probes", settings)
plots.save(plots.bounds_figure(tables["bounds"]), prefix + "fig7_agreement_bounds", settings)
