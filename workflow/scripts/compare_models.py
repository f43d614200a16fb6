"""All similarity measures of one model pair on one input set, as tidy rows."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import SimilaritySettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
w, inp = snakemake.wildcards, snakemake.input
settings = from_params(SimilaritySettings, snakemake.params.similarity)
jobs.compare_models(inp.act_a, inp.act_b, inp.knn_a, inp.knn_b, settings, inputs=w.kind, dataset=w.dataset, eps=w.eps,
                    model_a=w.model_a, model_b=w.model_b, out=snakemake.output[0], threads=snakemake.threads,
                    summary_a=inp.summary_a, summary_b=inp.summary_b)
