"""Clean and adversarial accuracy of one model on the evaluation split."""
from robuniv import jobs
from robuniv.config import JobSettings
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
job, w = JobSettings(snakemake), snakemake.wildcards
jobs.evaluate(snakemake.input.checkpoint, job.source(), job.model(), job.evaluation(), dataset=w.dataset,
              model_name=w.model, eps=w.eps, out=snakemake.output[0], sha256=snakemake.params.sha256,
              data_settings=job.dataset_settings(), summary=snakemake.input.dataset)
