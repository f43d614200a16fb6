# Data: check each data set once (fetching CIFAR-10 where `download: true`), then sample the comparison
# inputs: N targets and, per target, a seed image of another class.


rule prepare_dataset:
    output:
        PATHS["dataset"],
    log:
        path("dataset_log", rule="prepare_dataset"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("prepare_dataset"),
    params:
        source=get_source,
    script:
        "../scripts/prepare_dataset.py"


rule prepare_inputs:
    input:
        rules.prepare_dataset.output,
    output:
        PATHS["inputs"],
    log:
        path("dataset_log", rule="prepare_inputs"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("prepare_inputs"),
    params:
        source=get_source,
        dataset=get_dataset_settings,
    script:
        "../scripts/prepare_inputs.py"
