# Inversion: one file of inverted images per (data set, ε, model).


rule invert_images:
    input:
        checkpoint=model_checkpoint,
        inputs="results/{dataset}/inputs.h5",
    output:
        "results/{dataset}/eps{eps}/inverted/{model}.h5",
    params:
        spec=model_spec,
        source=source_settings,
        inversion=lambda wc: rc.inversion_settings(config, wc.dataset),
        batch_size=lambda wc: rc.batch_size(config, wc.dataset),
    log:
        "logs/{dataset}/eps{eps}/invert_images/{model}.log",
    benchmark:
        "logs/{dataset}/eps{eps}/invert_images/{model}.benchmark.tsv"
    conda:
        ENV
    threads: rule_threads("invert_images")
    resources:
        mem_mb=rule_resource("invert_images", "mem_mb", 16000),
        runtime=rule_resource("invert_images", "runtime", 720),
        gpu=rule_resource("invert_images", "gpu", 1),
    script:
        "../scripts/invert_images.py"
