# Activations: representations + logits per (data set, ε, model, input set); then, per model and input
# set, its per-network steps (netrep's fit): the kNN graph (one top-k search serves every Jaccard k of every
# pair) and the summary (norms of the centred representation, RTD distances), each with only the settings it
# depends on, so a comparison setting reruns only these steps and the comparisons, never a forward pass.


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


rule build_knn_graph:
    input:
        rules.extract_activations.output[0],
    output:
        PATHS["knn"],
    log:
        job_log("build_knn_graph", "{model}/{inputs}"),
    conda:
        ENV
    threads: rule_threads("build_knn_graph")
    resources:
        **job_resources("build_knn_graph"),
    params:
        k=get_knn_k,
    script:
        "../scripts/build_knn_graph.py"


rule summarise_representations:
    input:
        rules.extract_activations.output[0],
    output:
        PATHS["summary"],
    log:
        job_log("summarise_representations", "{model}/{inputs}"),
    conda:
        ENV
    threads: rule_threads("summarise_representations")
    resources:
        **job_resources("summarise_representations"),
    params:
        rtd=get_rtd_settings,
    script:
        "../scripts/summarise_representations.py"
