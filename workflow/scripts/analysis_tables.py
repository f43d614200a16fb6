"""Analyses 4-6: subgroup table and permutation tests, probe agreement, agreement bounds."""
from robuniv.runtime import setup_job
from robuniv.tables import analysis_tables, write_csv

setup_job(snakemake.log[0])
inp, p, out = snakemake.input, snakemake.params, snakemake.output
tables = analysis_tables(similarity_path=inp.similarity, subgroup_paths=inp.subgroups, probe_paths=inp.probes,
                         probe_meta=p.probe_meta, eval_paths=inp.evals, regular_paths=inp.regular,
                         subgroup_settings=p.subgroups, num_classes=p.num_classes)
for name in ("subgroups", "subgroup_tests", "probes", "bounds"):
    write_csv(tables[name], getattr(out, name))
