"""All similarity measures of one model pair on one input set, as tidy rows."""
from robuniv.h5io import read_activations, read_knn
from robuniv.runtime import pick_device, setup_job
from robuniv.tables import pair_similarity_table, write_csv

log = setup_job(snakemake.log[0], snakemake.threads)
w, inp = snakemake.wildcards, snakemake.input
frame = pair_similarity_table(read_activations(inp.act_a), read_activations(inp.act_b), read_knn(inp.knn_a),
                              read_knn(inp.knn_b), settings=snakemake.params.similarity, inputs=w.kind,
                              dataset=w.dataset, eps=float(w.eps), model_a=w.model_a, model_b=w.model_b,
                              device=pick_device(), threads=snakemake.threads, names=(inp.act_a, inp.act_b))
write_csv(frame, snakemake.output[0])
log.info("%s", dict(zip(frame["measure"], frame["value"])))
