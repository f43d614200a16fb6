"""Paper figure 2: one model's inverted images of the same targets from the same seeds, one row per ε."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job
from robuniv.settings import FigureSettings, from_params

setup_job(snakemake.log[0])
p = snakemake.params
by_eps = {key[len("eps:"):]: list(files) for key, files in snakemake.input.items() if key.startswith("eps:")}
jobs.figure_inversions_by_eps(snakemake.input.inputs, by_eps, JobSettings(snakemake).source(),
                              from_params(FigureSettings, p.figures),
                              model=p.model, dataset=snakemake.wildcards.dataset, outputs=snakemake.output)
