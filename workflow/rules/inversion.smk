# Inversion: one file of inverted images per (data set, ε, model).


rule invert_images:
    input:
        checkpoint=get_checkpoint,
        inputs=rules.prepare_inputs.output[0],
    output:
        PATHS["inverted"],
    log:
        job_log("invert_images"),
    benchmark:
        "logs/{dataset}/eps{eps}/invert_images/{model}.benchmark.tsv"
    conda:
        ENV
    threads: rule_threads("invert_images")
    resources:
        mem_mb=rule_resource("invert_images", "mem_mb", 16000),
        runtime=rule_resource("invert_images", "runtime", 720),
        gpu=rule_resource("invert_images", "gpu", 1),
    params:
        source=get_source,
        model=get_model,
        sha256=get_checkpoint_sha256,
        inversion=get_inversion,
        dataset=get_dataset_settings,
    script:
        "../scripts/invert_images.py"
