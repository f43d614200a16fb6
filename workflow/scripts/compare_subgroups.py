"""One regular-image pair: the representational measures on the inputs where it agrees / disagrees, and on
size-matched random subsets of the agreeing inputs."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import SimilaritySettings, SubgroupSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
w, p = snakemake.wildcards, snakemake.params
jobs.compare_subgroups(snakemake.input.act_a, snakemake.input.act_b, from_params(SubgroupSettings, p.subgroups),
                       from_params(SimilaritySettings, p.similarity), dataset=w.dataset, eps=w.eps, model_a=w.model_a,
                       model_b=w.model_b, out=snakemake.output[0])
