"""Paper figures 1, 3, 4 and 8 from the similarity table."""
import pandas as pd

from robuniv import plots
from robuniv.runtime import setup_job

setup_job(snakemake.log[0])
frame = pd.read_csv(snakemake.input.similarity, keep_default_na=False)
settings = snakemake.params.figures
plots.set_style(settings)
figures = {"fig1_predictions_regular": plots.prediction_figure(frame, "regular"),
           "fig3_predictions_inverted": plots.prediction_figure(frame, "inverted"),
           "fig4_representations": plots.representation_figure(frame),
           "fig8_jaccard_k": plots.jaccard_k_figure(frame)}
for name, fig in figures.items():
    plots.save(fig, snakemake.params.prefix + name, settings)
