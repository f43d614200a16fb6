"""Train one model at one ε (L2-PGD adversarial training; ε = 0 is standard training)."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
job, w = JobSettings(snakemake), snakemake.wildcards
jobs.train(job.source(), job.model(), job.training(), dataset=w.dataset, model_name=w.model, out=snakemake.output[0],
           resume=snakemake.params.resume, summary=snakemake.input.dataset)
