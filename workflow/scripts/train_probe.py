"""Linear probes on one model's frozen training features; their logits on the regular comparison inputs."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import ProbeSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
w = snakemake.wildcards
jobs.train_probes(snakemake.input.train, snakemake.input.regular, from_params(ProbeSettings, snakemake.params.probes),
                  dataset=w.dataset,
                  model_name=w.model, eps=w.eps, out=snakemake.output[0])
