# robuniv: are adversarially robust networks universal?  See README.md and docs/method.md.
from snakemake.utils import min_version

from robuniv import catalog
from robuniv import config as rc

min_version("9.0")


# The embedded demo, unless a config is given with --configfile: a paper set-up then runs alone
# (Snakemake would otherwise merge the demo's data set into it).
# A malformed or empty config.yaml is named with its line here (Snakemake's message names neither; files given
# with --configfile Snakemake reads before this file: check them with `python -m robuniv.config FILE`).
if not workflow.overwrite_configfiles:
    rc.check_yaml_file("config.yaml")

    configfile: "config.yaml"


# The schema says which keys exist and their types; robuniv/settings.py holds every default.
rc.validate(config, rc.config_source(workflow.overwrite_configfiles, workflow.config_settings.config))


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/inversion.smk"
include: "workflow/rules/activations.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/subgroups.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/tables_figures.smk"


# Downloads (compute nodes are often offline; prepare_dataset fetches CIFAR-10 where `download: true`),
# tables and figures run on the submitting host: the rules that robuniv.catalog.RULES marks local.
workflow.localrules("all", *catalog.local_rules())


rule all:
    default_target: True
    input:
        all_targets(),


# The resources table (robuniv.catalog.RULES) names exactly the rules defined above.
catalog.check_rules([r.name for r in workflow.rules])
