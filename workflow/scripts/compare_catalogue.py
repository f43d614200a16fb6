"""The measures of one catalogue family for one model pair on one input set, as tidy rows (numpy only)."""
from robuniv import jobs
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
w, inp = snakemake.wildcards, snakemake.input
family = w.family.partition("@")[0]  # neighbours@<k>: the kNN family at one k
jobs.compare_catalogue(inp.act_a, inp.act_b, family, dict(snakemake.params.settings), inputs=w.kind, dataset=w.dataset,
                       eps=w.eps, model_a=w.model_a, model_b=w.model_b, out=snakemake.output[0])
