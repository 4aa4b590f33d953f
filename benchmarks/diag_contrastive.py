"""Why does the contrastive estimator not learn? Variants of it against an independent "plain"
contrastive clustering, on small public sets, scored by NMI (head and k-means on the latent).

The plain reference is written here from Li et al. (2021) without the estimator's code: a
three-layer MLP encoder on the flattened z-normalised series, the instance and cluster heads,
the same two NT-Xent losses and entropy term, and both views made by additive jitter and
per-series scaling applied to every sample. A variant is a dict of ``ContrastiveClustering``
parameters. Development sets (tuning): BasicMotions, PickupGestureWiimoteZ (aeon), Trace
(tslearn); the six sets of ``bench_cluster.py`` are the held-out group.

``python benchmarks/diag_contrastive.py --sets dev --seeds 0 1 --variants plain '{"width": 64}'``
prints one line per (set, seed, variant) and a mean per variant; ``--save`` adds the rows to the
section ``cluster_dev`` of ``benchmarks/results.json`` (a row of the same set, seed, variant and
steps is replaced). A variant is named by the parameters it sets, on top of the estimator's
defaults at the time of the run, which the row also records (``defaults``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEV = ("BasicMotions", "PickupGestureWiimoteZ", "Trace")
HELD_OUT = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf", "ACSF1", "JapaneseVowels")
STEPS = 300

VARIANTS: dict[str, dict] = {
    "default": {},
}


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A set as the harness prepares it (z-normalised series)."""
    if name == "Trace":
        from tslearn.datasets import CachedDatasets

        a, b, c, d = CachedDatasets().load_dataset("Trace")
        X = np.concatenate([a, c]).transpose(0, 2, 1)
        y = np.unique(np.concatenate([b, d]), return_inverse=True)[1]
        X = (X - X.mean(axis=2, keepdims=True)) / np.maximum(X.std(axis=2, keepdims=True), 1e-8)
        return X.astype(np.float32), y
    from bench_cluster import load as load_aeon

    return load_aeon(name)


def plain(X: np.ndarray, k: int, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The independent reference: labels of its cluster head and its latent."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.manual_seed(seed)
    n = len(X)
    x = torch.from_numpy(X.reshape(n, -1))
    d = x.shape[1]
    enc = nn.Sequential(
        nn.Linear(d, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128)
    )
    inst = nn.Sequential(nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 128))
    clus = nn.Sequential(nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, k))
    params = [*enc.parameters(), *inst.parameters(), *clus.parameters()]
    opt = torch.optim.Adam(params, lr=3e-4)

    def view(b):
        s = 1 + 0.1 * torch.randn(len(b), 1)
        return b * s + 0.1 * torch.randn_like(b)

    def ntx(a, b, t):
        m = len(a)
        r = F.normalize(torch.cat([a, b]), dim=1)
        sim = r @ r.T / t
        sim.fill_diagonal_(-1e9)
        target = torch.cat([torch.arange(m, 2 * m), torch.arange(m)])
        return F.cross_entropy(sim, target)

    bs = min(256, n)
    for _ in range(steps):
        b = x[torch.randperm(n)[:bs]]
        h1, h2 = enc(view(b)), enc(view(b))
        p1, p2 = clus(h1).softmax(1), clus(h2).softmax(1)
        loss = ntx(inst(h1), inst(h2), 0.5) + ntx(p1.T, p2.T, 1.0)
        for p in (p1, p2):
            q = p.sum(0) / p.sum()
            loss = loss + np.log(k) + (q * q.log()).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        h = enc(x)
        return clus(h).argmax(1).numpy(), h.numpy()


def run_one(name, X, y, k, seed, variant, steps):
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from dstc_lib.models.contrastive import ContrastiveClustering, latent_kmeans

    t0 = time.perf_counter()
    if variant == "plain":
        head, latent = plain(X, k, seed, steps)
    elif variant == "kmeans":
        head = KMeans(k, n_init=10, random_state=seed).fit_predict(X.reshape(len(X), -1))
        latent = None
    elif variant == "fft":
        spec = np.abs(np.fft.rfft(X, axis=2)).reshape(len(X), -1)
        head = KMeans(k, n_init=10, random_state=seed).fit_predict(spec)
        latent = None
    else:
        params = {"steps": steps, **VARIANTS.get(variant, {})}
        if variant not in VARIANTS:
            params.update(json.loads(variant))
        model = ContrastiveClustering(k, random_state=seed, **params).fit(X)
        head, latent = model.labels_, model.transform(X)
    lat = nmi(y, latent_kmeans(latent, k, seed)) if latent is not None else float("nan")
    return {
        "set": name,
        "seed": seed,
        "variant": variant,
        "head": float(nmi(y, head)),
        "latent": float(lat),
        "seconds": time.perf_counter() - t0,
    }


def main(argv=None):
    import torch
    from threadpoolctl import threadpool_limits

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", nargs="*", default=["dev"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    p.add_argument("--variants", nargs="*", default=["kmeans", "fft", "plain", "default"])
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--json", type=Path)
    p.add_argument("--save", action="store_true", help="merge into benchmarks/results.json")
    args = p.parse_args(argv)
    sets = []
    for s in args.sets:
        sets += list(DEV if s == "dev" else HELD_OUT if s == "held" else [s])
    torch.set_num_threads(1)
    rows = []
    warnings.simplefilter("ignore")
    with threadpool_limits(1):
        for name in sets:
            X, y = load(name)
            k = len(np.unique(y))
            for variant in args.variants:
                for seed in args.seeds:
                    r = run_one(name, X, y, k, seed, variant, args.steps)
                    rows.append(r)
                    print(
                        f"{name:22s} {seed} {variant[:60]:60s} head {r['head']:.3f} "
                        f"latent {r['latent']:.3f} {r['seconds']:.0f}s",
                        flush=True,
                    )
    print("mean over sets and seeds:")
    for variant in args.variants:
        sel = [r for r in rows if r["variant"] == variant]
        print(
            f"  {variant[:70]:70s} head {np.mean([r['head'] for r in sel]):.3f} "
            f"latent {np.nanmean([r['latent'] for r in sel]):.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.save:
        save(rows, args.steps)
    return rows


def save(rows: list[dict], steps: int) -> None:
    """Merge rows into the ``cluster_dev`` section of the results file."""
    from common import RESULTS, environment, save_section

    from dstc_lib.harness import estimator_defaults

    defaults = estimator_defaults()
    old = json.loads(RESULTS.read_text()).get("cluster_dev", {}) if RESULTS.exists() else {}
    kept = {(r["set"], r["seed"], r["variant"], r["steps"]): r for r in old.get("rows", [])}
    for r in rows:
        kept[r["set"], r["seed"], r["variant"], steps] = {**r, "steps": steps, "defaults": defaults}
    save_section("cluster_dev", {"rows": list(kept.values()), "environment": environment()})


if __name__ == "__main__":
    main()
