"""Analyses 4-6: subgroup table and permutation tests, probe agreement, agreement bounds."""
from robuniv import jobs
from robuniv.runtime import setup_job
from robuniv.settings import SubgroupSettings, from_params

setup_job(snakemake.log[0])
inp = snakemake.input
jobs.analysis_tables(similarity_path=inp.similarity, subgroup_paths=inp.subgroups, probe_paths=inp.probes,
                     eval_paths=inp.evaluations, regular_paths=inp.regular, dataset_paths=inp.datasets,
                     subgroups={d: from_params(SubgroupSettings, s) for d, s in snakemake.params.subgroups.items()},
                     outputs=snakemake.output)
