# Activations: representations + logits per (data set, ε, model, input set); then, per model and input
# set, its kNN graph (netrep's per-network step: one top-k search serves every Jaccard k of every pair,
# and changing a comparison setting reruns only graphs and comparisons, never a forward pass).


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
