"""Per-model steps of the pair measures on one input set, computed once and read by every pair: the kNN graph
(serves every Jaccard k) and the summary (norms, RTD distances)."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import SimilaritySettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
out = snakemake.output
jobs.per_model_steps(snakemake.input[0], snakemake.params.k, from_params(SimilaritySettings, snakemake.params.rtd),
                     out.knn, out.summary)
