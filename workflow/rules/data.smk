# Data: check each data set once (fetching CIFAR-10 where `download: true`), then sample the comparison
# inputs: N targets and, per target, a seed image of another class.


rule prepare_dataset:
    output:
        PATHS["dataset"],
    log:
        "logs/{dataset}/prepare_dataset.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("prepare_dataset", "mem_mb", 4000),
        runtime=rule_resource("prepare_dataset", "runtime", 60),
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
        "logs/{dataset}/prepare_inputs.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("prepare_inputs", "mem_mb", 4000),
        runtime=rule_resource("prepare_inputs", "runtime", 30),
    params:
        source=get_source,
        dataset=get_dataset_settings,
    script:
        "../scripts/prepare_inputs.py"
