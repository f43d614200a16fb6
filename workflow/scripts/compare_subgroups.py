"""One regular-image pair: the representational measures on the inputs where it agrees / disagrees, and on
size-matched random subsets of the agreeing inputs."""
from robuniv.h5io import read_activations
from robuniv.runtime import setup_job
from robuniv.tables import pair_subgroup_table, write_csv

log = setup_job(snakemake.log[0], snakemake.threads)
w = snakemake.wildcards
frame = pair_subgroup_table(read_activations(snakemake.input.act_a), read_activations(snakemake.input.act_b),
                            dataset=w.dataset, eps=float(w.eps), model_a=w.model_a, model_b=w.model_b,
                            subgroups=snakemake.params.subgroups, similarity=snakemake.params.similarity)
write_csv(frame, snakemake.output[0])
log.info("inputs per subgroup: %s", frame.groupby("subgroup")["n_inputs"].first().to_dict())
