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
        job_benchmark("invert_images")
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
