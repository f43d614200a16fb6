"""Sample the comparison inputs of a data set once: targets and seeds of a different class."""
from robuniv.data import labels_of, load_split
from robuniv.h5io import atomic_h5, set_attrs
from robuniv.inputs import sample_pairs
from robuniv.runtime import setup_job

log = setup_job(snakemake.log[0])
source = dict(snakemake.params.source)
pool = labels_of(load_split(source.pop("source"), "eval", source))
targets, seeds = sample_pairs(pool, snakemake.params.n_inputs, snakemake.params.seed)
with atomic_h5(snakemake.output[0]) as fh:
    set_attrs(fh, {"dataset": snakemake.wildcards.dataset, "seed": snakemake.params.seed,
                   "n_inputs": len(targets), "pool_size": len(pool), "pool": "evaluation split",
                   "description": "targets drawn without replacement; per target a seed of another class"})
    fh["target_index"], fh["target_label"] = targets, pool[targets]
    fh["seed_index"], fh["seed_label"] = seeds, pool[seeds]
log.info("%d targets from a pool of %d", len(targets), len(pool))
