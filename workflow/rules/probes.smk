# Analysis 5 (paper figure 6): frozen training-split features of each model at the probe ε, and fresh
# linear probes trained on them, evaluated on the regular comparison inputs.


rule extract_train_features:
    input:
        checkpoint=get_checkpoint,
        dataset=rules.prepare_dataset.output[0],
    output:
        PATHS["train_features"],
    log:
        job_log("extract_train_features"),
    conda:
        ENV
    threads: rule_threads("extract_train_features")
    resources:
        **job_resources("extract_train_features"),
    params:
        source=get_source,
        model=get_model,
        sha256=get_checkpoint_sha256,
        dataset=get_dataset_settings,
    script:
        "../scripts/extract_train_features.py"


rule train_probe:
    input:
        unpack(get_probe_inputs),
    output:
        PATHS["probe"],
    log:
        job_log("train_probe"),
    conda:
        ENV
    threads: rule_threads("train_probe")
    resources:
        **job_resources("train_probe"),
    params:
        probes=get_probes,
    script:
        "../scripts/train_probe.py"
