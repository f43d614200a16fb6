"""Analyses 4-6: subgroup table and permutation tests, probe agreement, agreement bounds."""
from robuniv.runtime import setup_job
from robuniv.tables import analysis_tables, write_csv

setup_job(snakemake.log[0])
inp = snakemake.input
tables = analysis_tables(similarity_path=inp.similarity, subgroup_paths=inp.subgroups, probe_paths=inp.probes,
                         eval_paths=inp.evaluations, regular_paths=inp.regular, dataset_paths=inp.datasets,
                         subgroup_settings=snakemake.params.subgroups)
for name, frame in tables.items():
    write_csv(frame, snakemake.output[name])
