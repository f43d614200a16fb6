# Evaluation: clean and adversarial accuracy per model (paper tables 1-3).


rule evaluate_model:
    input:
        checkpoint=model_checkpoint,
        dataset="results/{dataset}/dataset.json",
    output:
        "results/{dataset}/eps{eps}/eval/{model}.json",
    params:
        spec=model_spec,
        source=source_settings,
        evaluation=lambda wc: rc.evaluation_settings(config, wc.dataset),
        arch=lambda wc: config["datasets"][wc.dataset]["models"][wc.model]["arch"],
    log:
        "logs/{dataset}/eps{eps}/evaluate_model/{model}.log",
    conda:
        ENV
    threads: rule_threads("evaluate_model")
    resources:
        mem_mb=rule_resource("evaluate_model", "mem_mb", 16000),
        runtime=rule_resource("evaluate_model", "runtime", 240),
        gpu=rule_resource("evaluate_model", "gpu", 1),
    script:
        "../scripts/evaluate_model.py"


rule accuracy_table:
    input:
        eval_jsons(),
    output:
        report("results/tables/accuracy.csv", caption="../report/accuracy.rst", category="Tables"),
    log:
        "logs/accuracy_table.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/accuracy_table.py"
