"""Seed / target / inverted images of every model, one grid per data set and ε."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job
from robuniv.settings import FigureSettings, from_params

setup_job(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
jobs.figure_inversions(snakemake.input.inputs, dict(zip(p.models, snakemake.input.inverted)),
                       JobSettings(snakemake).source(),
                       from_params(FigureSettings, p.figures), title=f"{w.dataset}, ε = {w.eps}",
                       outputs=snakemake.output)
