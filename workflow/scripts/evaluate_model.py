"""Clean and adversarial accuracy of one model on the evaluation split."""
from robuniv import jobs
from robuniv.runtime import setup_job

setup_job(snakemake.log[0], snakemake.threads)
p, w = snakemake.params, snakemake.wildcards
jobs.evaluate(snakemake.input.checkpoint, p.source, p.model, p.evaluation, dataset=w.dataset, model_name=w.model,
              eps=w.eps, out=snakemake.output[0], sha256=p.sha256, dataset_settings=p.dataset)
