# Models: download released robust checkpoints, or train with L2-PGD (ε = 0: standard training).


rule download_checkpoint:
    output:
        "resources/checkpoints/{dataset}/eps{eps}/{model}.ckpt",
    params:
        url=lambda wc: rc.checkpoint_url(config, wc.dataset, wc.model, wc.eps),
        sha256=lambda wc: rc.checkpoint_sha256(config, wc.dataset, wc.model, wc.eps),
        spec=model_spec,
    log:
        "logs/{dataset}/eps{eps}/download_checkpoint/{model}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("download_checkpoint", "mem_mb", 8000),
        runtime=rule_resource("download_checkpoint", "runtime", 120),
    script:
        "../scripts/download_checkpoint.py"


rule train_model:
    input:
        dataset="results/{dataset}/dataset.json",
    output:
        "results/{dataset}/eps{eps}/models/{model}.ckpt",
    params:
        spec=model_spec,
        training=lambda wc: rc.training_settings(config, wc.dataset, wc.model, wc.eps),
        source=source_settings,
        # Per-epoch checkpoints for resuming after a kill; not an output, so Snakemake keeps it.
        resume=lambda wc: f"results/{wc.dataset}/eps{wc.eps}/models/.resume/{wc.model}.ckpt",
    log:
        "logs/{dataset}/eps{eps}/train_model/{model}.log",
    benchmark:
        "logs/{dataset}/eps{eps}/train_model/{model}.benchmark.tsv"
    conda:
        ENV
    threads: rule_threads("train_model")
    resources:
        mem_mb=rule_resource("train_model", "mem_mb", 32000),
        runtime=rule_resource("train_model", "runtime", 4320),
        gpu=rule_resource("train_model", "gpu", 1),
    script:
        "../scripts/train_model.py"
