# Inversion: per (data set, ε, model), one job and file per shard of the targets (inversion.shard_size rows,
# named by its rows [start, stop)), so no job outgrows an hour at ImageNet scale; extraction and figures read
# a model's shards as one set.


rule invert_images:
    input:
        checkpoint=get_checkpoint,
        inputs=rules.prepare_inputs.output[0],
    output:
        PATHS["inverted"],
    log:
        job_log("invert_images", "{model}/targets{rows}"),
    benchmark:
        job_benchmark("invert_images", "{model}/targets{rows}")
    conda:
        ENV
    threads: rule_threads("invert_images")
    resources:
        **job_resources("invert_images"),
    params:
        source=get_source,
        model=get_model,
        sha256=get_checkpoint_sha256,
        inversion=get_inversion,
        dataset=get_dataset_settings,
    script:
        "../scripts/invert_images.py"
