"""Regenerate docs/preprocessing.png, the README's figure, from the ci synthetic data:
.venv/bin/python docs/make_figure.py   (after `make book`)"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dstc_lib import explain, plots, synth  # noqa: E402
from dstc_lib.reduce import reduce_city  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data/synthetic/ci"

ct = reduce_city(DATA / "traffic", "Paris", cache_dir=ROOT / "data/cache", progress=False)
truth = synth.load_truth(DATA / "truth", "Paris")
fig, (a, b) = plt.subplots(1, 2, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1, 1.6]})
plots.calendar_heatmap(ct, ax=a)
a.set_title("Paris (synthetic): traffic per hour of each day")
profile = explain.weekly_profile(ct, truth["archetype"])
plots.weekly_profiles(profile[["business", "residential", "nightlife", "park", "transport_hub"]],
                      ax=b, title="typical week of five planted archetypes")  # fmt: skip
fig.tight_layout()
fig.savefig(ROOT / "docs/preprocessing.png", dpi=90)
