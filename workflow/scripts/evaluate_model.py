"""Clean and adversarial accuracy of one model on the evaluation split."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import DatasetSettings, EvaluationSettings, ModelSettings, from_params

setup_job(snakemake.log[0], snakemake.threads)
p, w = snakemake.params, snakemake.wildcards
jobs.evaluate(snakemake.input.checkpoint, p.source, from_params(ModelSettings, p.model),
              from_params(EvaluationSettings, p.evaluation), dataset=w.dataset, model_name=w.model, eps=w.eps,
              out=snakemake.output[0], sha256=p.sha256, data_settings=from_params(DatasetSettings, p.dataset))
