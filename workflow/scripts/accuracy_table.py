"""Gather every model's evaluation into results/tables/accuracy.csv (paper tables 1-3)."""
import json

from robuniv.runtime import setup_job
from robuniv.tables import accuracy_rows, write_csv

setup_job(snakemake.log[0])
records = [json.load(open(path)) for path in snakemake.input]
write_csv(accuracy_rows(records), snakemake.output[0])
