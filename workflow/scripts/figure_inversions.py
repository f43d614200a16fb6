"""Seed / target / inverted images of every model (paper figure 2), one grid per data set and ε."""
from robuniv import plots
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
plots.inversion_figure(snakemake.input.inputs, dict(zip(p.models, snakemake.input.inverted)), p.source,
                       title=f"{w.dataset}, ε = {w.eps}", outputs=dict(snakemake.output), settings=p.figures)
