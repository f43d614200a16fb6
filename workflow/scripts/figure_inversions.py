"""Seed / target / inverted images of every model (paper figure 2), one grid per data set and ε."""
import h5py

from robuniv import plots
from robuniv.data import load_split
from robuniv.h5io import read_inputs
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
settings = snakemake.params.figures
plots.set_style(settings)
pairs = read_inputs(snakemake.input.inputs)
source = dict(snakemake.params.source)
pool = load_split(source.pop("source"), "eval", source)
k = min(settings["n_examples"], len(pairs["target_index"]))
seeds = [pool[int(i)][0] for i in pairs["seed_index"][:k]]
targets = [pool[int(i)][0] for i in pairs["target_index"][:k]]
inverted = {}
for model, path in zip(snakemake.params.models, snakemake.input.inverted):
    with h5py.File(path, "r") as fh:
        inverted[model] = (fh["images"][:k], fh["loss"][:k])
fig = plots.inversion_grid(seeds, targets, inverted, title=f"{snakemake.wildcards.dataset}, ε = {snakemake.wildcards.eps}")
plots.save(fig, snakemake.params.prefix, settings)
