"""Paper figure 2: one model's inverted images of the same targets from the same seeds, one row per ε."""
from robuniv import plots
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
p = snakemake.params
by_eps = {key: path for key, path in snakemake.input.items() if key != "inputs"}
plots.inversion_eps_figure(snakemake.input.inputs, by_eps, p.source, model=p.model, dataset=snakemake.wildcards.dataset,
                           outputs=dict(snakemake.output), settings=p.figures)
