"""Seed / target / inverted images of every model, one grid per data set and ε."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job
from robuniv.settings import FigureSettings, from_params

setup_job(snakemake.log[0])
p, w = snakemake.params, snakemake.wildcards
files = dict(snakemake.input.items())
inverted = {m: list(files[f"model:{m}"]) for m in p.models}  # each model's shard files, in row order
jobs.figure_inversions(snakemake.input.inputs, inverted, JobSettings(snakemake).source(),
                       from_params(FigureSettings, p.figures), title=f"{w.dataset}, ε = {w.eps}",
                       outputs=snakemake.output)
