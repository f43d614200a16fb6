# Evaluation: clean and adversarial accuracy per model (paper tables 1-3).


rule evaluate_model:
    input:
        checkpoint=get_checkpoint,
        dataset=rules.prepare_dataset.output[0],
    output:
        PATHS["evaluation"],
    log:
        job_log("evaluate_model"),
    conda:
        ENV
    threads: rule_threads("evaluate_model")
    resources:
        **job_resources("evaluate_model"),
    params:
        source=get_source,
        model=get_model,
        sha256=get_checkpoint_sha256,
        evaluation=get_evaluation,
        dataset=get_dataset_settings,
    script:
        "../scripts/evaluate_model.py"


rule accuracy_table:
    input:
        get_evaluations,
    output:
        accuracy=report_table("accuracy"),
    log:
        path("dataset_log", rule="accuracy_table"),
    conda:
        ENV
    threads: 1
    resources:
        **job_resources("accuracy_table"),
    script:
        "../scripts/accuracy_table.py"
