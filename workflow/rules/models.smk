# Models: fetch released robust checkpoints (URL or local path), or train with L2-PGD (ε = 0: standard
# training). Every checkpoint with a configured sha256 is checked, wherever it came from.


rule download_checkpoint:
    output:
        PATHS["downloaded"],
    log:
        job_log("download_checkpoint"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("download_checkpoint"),
    params:
        url=get_checkpoint_url,
        sha256=get_checkpoint_sha256,
        model=get_model,
    script:
        "../scripts/download_checkpoint.py"


rule train_model:
    input:
        dataset=rules.prepare_dataset.output[0],
    output:
        PATHS["trained"],
    log:
        job_log("train_model"),
    benchmark:
        job_benchmark("train_model")
    conda:
        ENV
    threads: rule_threads("train_model")
    resources:
        **job_resources("train_model", gpu=get_training_gpus),
    params:
        source=get_source,
        model=get_model,
        training=get_training,
        # Per-epoch checkpoints for resuming after a kill; not an output, so Snakemake keeps it.
        resume=PATHS["resume"],
    script:
        "../scripts/train_model.py"
