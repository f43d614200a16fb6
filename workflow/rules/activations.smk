# Activations: representations + logits per (data set, ε, model, input set); then, per model and input
# set, its per-network steps (netrep's fit), in one job: the kNN graph (one top-k search serves every Jaccard
# k of every pair) and the summary (norms of the centred representation, RTD distances). Two files, one job:
# each is cheap, and its start (a torch import) was most of the cost of a job of its own. Only the
# comparisons read them, and each of their settings (k, RTD) reruns those comparisons anyway, so a comparison
# setting reruns only these steps and the comparisons, never a forward pass.


rule extract_activations:
    input:
        unpack(get_activation_inputs),
    output:
        PATHS["activations"],
    log:
        job_log("extract_activations", "{model}/{inputs}"),
    conda:
        ENV
    threads: rule_threads("extract_activations")
    resources:
        **job_resources("extract_activations"),
    params:
        source=get_source,
        model=get_model,
        sha256=get_checkpoint_sha256,
        dataset=get_dataset_settings,
    script:
        "../scripts/extract_activations.py"


rule summarise_representations:
    input:
        rules.extract_activations.output[0],
    output:
        knn=PATHS["knn"],
        summary=PATHS["summary"],
    log:
        job_log("summarise_representations", "{model}/{inputs}"),
    conda:
        ENV
    threads: rule_threads("summarise_representations")
    resources:
        **job_resources("summarise_representations"),
    params:
        k=get_knn_k,
        rtd=get_rtd_settings,
    script:
        "../scripts/summarise_representations.py"
