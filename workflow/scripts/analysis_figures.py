"""Paper figures 5-7 from the analysis tables."""
from robuniv import catalog, jobs
from robuniv.runtime import setup_job
from robuniv.settings import FigureSettings, from_params

setup_job(snakemake.log[0])
jobs.plot_figures(catalog.FIGURES_BY_RULE[snakemake.rule], dict(snakemake.input.items()), snakemake.output,
                  from_params(FigureSettings, snakemake.params.figures))
