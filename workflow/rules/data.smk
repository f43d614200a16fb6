# Data: check each data set once (and fetch CIFAR-10 where `download: true`), record its summary.


rule prepare_dataset:
    output:
        "results/{dataset}/dataset.json",
    params:
        source=source_settings,
    log:
        "logs/{dataset}/prepare_dataset.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("prepare_dataset", "mem_mb", 4000),
        runtime=rule_resource("prepare_dataset", "runtime", 60),
    script:
        "../scripts/prepare_dataset.py"


rule prepare_inputs:
    input:
        "results/{dataset}/dataset.json",
    output:
        "results/{dataset}/inputs.h5",
    params:
        source=source_settings,
        n_inputs=lambda wc: rc.n_inputs(config, wc.dataset),
        seed=lambda wc: int(config["datasets"][wc.dataset].get("inputs_seed", 0)),
    log:
        "logs/{dataset}/prepare_inputs.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=rule_resource("prepare_inputs", "mem_mb", 4000),
        runtime=rule_resource("prepare_inputs", "runtime", 30),
    script:
        "../scripts/prepare_inputs.py"
