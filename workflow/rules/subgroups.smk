# Analysis 4 (paper figure 5): the representational measures on the inputs where a regular pair agrees
# and where it disagrees, and on size-matched random agree subsets (the control the paper lacks).


rule compare_subgroups:
    input:
        unpack(get_subgroup_inputs),
    output:
        PATHS["subgroups"],
    log:
        job_log("compare_subgroups", "{model_a}__{model_b}"),
    conda:
        ENV
    threads: rule_threads("compare_subgroups")
    resources:
        **job_resources("compare_subgroups"),
    params:
        subgroups=get_subgroups,
        similarity=get_rtd_settings,
    script:
        "../scripts/compare_subgroups.py"
