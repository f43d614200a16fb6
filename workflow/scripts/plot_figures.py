"""Paper figures 1, 3, 4 and 8 from the similarity tables."""
from robuniv import catalog, jobs
from robuniv.runtime import setup_job
from robuniv.settings import FigureSettings, from_params

setup_job(snakemake.log[0])
jobs.plot_figures(catalog.FIGURES_BY_RULE[snakemake.rule], dict(snakemake.input.items()), snakemake.output,
                  from_params(FigureSettings, snakemake.params.figures), keep_default_na=False)
