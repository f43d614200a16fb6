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
        mem_mb=rule_resource("download_checkpoint", "mem_mb", 8000),
        runtime=rule_resource("download_checkpoint", "runtime", 120),
    params:
        url=get_checkpoint_url,
        sha256=get_checkpoint_sha256,
        source=get_source,
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
        "logs/{dataset}/eps{eps}/train_model/{model}.benchmark.tsv"
    conda:
        ENV
    threads: rule_threads("train_model")
    resources:
        mem_mb=rule_resource("train_model", "mem_mb", 32000),
        runtime=rule_resource("train_model", "runtime", 4320),
        gpu=get_training_gpus,
    params:
        source=get_source,
        model=get_model,
        training=get_training,
        # Per-epoch checkpoints for resuming after a kill; not an output, so Snakemake keeps it.
        resume=PATHS["resume"],
    script:
        "../scripts/train_model.py"
