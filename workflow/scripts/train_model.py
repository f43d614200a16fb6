"""Train one model at one ε (L2-PGD adversarial training; ε = 0 is standard training)."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import ModelSettings, TrainSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
p, w = snakemake.params, snakemake.wildcards
jobs.train(p.source, from_params(ModelSettings, p.model), from_params(TrainSettings, p.training), dataset=w.dataset,
           model_name=w.model, out=snakemake.output[0], resume=p.resume)
