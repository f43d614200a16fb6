"""Check a data set's splits and record its summary (size, classes, normalisation)."""
from robuniv.data import labels_of, load_split, source_info
from robuniv.runtime import setup_job, write_json

log = setup_job(snakemake.log[0])
settings = dict(snakemake.params.source)
source = settings.pop("source")
info = source_info(source, settings)
summary = {"dataset": snakemake.wildcards.dataset, "source": source, "num_classes": info.num_classes,
           "image_size": info.image_size, "model_variant": info.variant,
           "mean": list(info.mean), "std": list(info.std)}
for split in ("train", "eval"):
    labels = labels_of(load_split(source, split, settings))
    summary[f"n_{split}"] = int(len(labels))
    summary[f"n_classes_{split}"] = int(len(set(labels.tolist())))
    log.info("%s split: %d images, %d classes", split, len(labels), summary[f"n_classes_{split}"])
write_json(summary, snakemake.output[0])
