"""Contrastive clustering (Li et al., "Contrastive Clustering", AAAI 2021) of traffic weeks.

Two augmented views of each tile of a mini-batch go through one 1-D convolutional backbone
(the latent ``h``), then two heads:

- the **instance head** projects ``h`` to a unit vector ``z``; the NT-Xent loss over the rows
  pulls the two views of a tile together and pushes the other tiles of the batch away;
- the **cluster head** maps ``h`` to a soft assignment over ``n_clusters`` (softmax). Each
  *column* of the batch's assignment matrix describes one cluster; the same NT-Xent loss over
  the columns makes a cluster's two views agree and the clusters differ, and an entropy term
  on the clusters' sizes, ``log K - H(sizes)`` per view, keeps every cluster in use.

The loss per step is ``instance + cluster + entropy_weight * entropy``. A tile's cluster is
the argmax of its assignment (``assign="head"``) or, as a check, k-means on the latent scaled
to unit length (``assign="kmeans"``; the losses compare latents by cosine). Inputs are plain
arrays ``(n_samples, n_channels, n_steps)``, best standardised per (channel, step) first
(``features.FeatureScaler``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm import tqdm

from ..augment import DEFAULT_AUGMENTATIONS, HOURS_PER_DAY, WEEK_DAY_KINDS, Context, augment
from ..augment import check_names as check_augmentations
from ..checks import check_graph, check_n_clusters, check_samples
from ..seeding import torch_threads
from .checkpoint import load_checkpoint, save_checkpoint

ASSIGNMENTS = ("head", "kmeans")


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised-temperature cross entropy of paired rows: row ``i`` of ``a`` and of ``b`` are
    positives, every other row of either is a negative. Rows are L2-normalised first; the mean
    over the ``2n`` rows of ``-log softmax`` of the positive's cosine similarity / temperature."""
    n = len(a)
    rows = F.normalize(torch.cat([a, b]), dim=1)
    logits = rows @ rows.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, positive)


def instance_loss(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Instance-level contrastive loss: NT-Xent over the rows (tiles) of the two views."""
    return nt_xent(z_a, z_b, temperature)


def cluster_loss(
    p_a: torch.Tensor, p_b: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster-level loss of two views' soft assignments ``(n, K)``: NT-Xent over the *columns*
    (clusters), and the entropy penalty ``2 log K - H(p_a) - H(p_b)``, where ``H`` is the
    entropy of the clusters' shares of the batch (0 when every cluster gets the same share)."""
    contrast = nt_xent(p_a.T, p_b.T, temperature)
    k = p_a.shape[1]
    penalty = 2 * math.log(k)
    for p in (p_a, p_b):
        share = p.sum(dim=0) / p.sum()
        penalty = penalty + (share * torch.log(share.clamp(min=1e-12))).sum()
    return contrast, penalty


class _Network(nn.Module):
    """1-D convolutional backbone (three strided convolutions over the hours, channels as
    input planes, then a linear layer) and the two heads."""

    def __init__(self, channels: int, steps: int, latent: int, width: int, k: int, proj: int):
        super().__init__()
        layers, size, c_in = [], steps, channels
        for c_out, kernel in ((width, 5), (2 * width, 5), (2 * width, 3)):
            layers += [nn.Conv1d(c_in, c_out, kernel, stride=2, padding=kernel // 2), nn.ReLU()]
            size, c_in = (size + 2 * (kernel // 2) - kernel) // 2 + 1, c_out
        self.backbone = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * size, latent))
        self.instance_head = nn.Sequential(
            nn.ReLU(), nn.Linear(latent, latent), nn.ReLU(), nn.Linear(latent, proj)
        )
        self.cluster_head = nn.Sequential(
            nn.ReLU(), nn.Linear(latent, latent), nn.ReLU(), nn.Linear(latent, k)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.backbone(x)
        return h, self.instance_head(h), torch.softmax(self.cluster_head(h), dim=1)


class ContrastiveClustering(ClusterMixin, TransformerMixin, BaseEstimator):
    """Contrastive clustering of ``(n_samples, n_channels, n_steps)`` arrays.

    Parameters
    ----------
    n_clusters: number of clusters (columns of the cluster head).
    augmentations: names from :data:`dstc_lib.augment.AUGMENTATIONS`, or ``"auto"``: all of
        them, less ``day_resample`` when the steps are not a 168-hour week and
        ``neighbour_mix`` when ``fit`` gets no ``graph``.
    strengths: strength per augmentation name (others keep their defaults).
    augment_probability: share of a batch's tiles each augmentation is applied to.
    epochs, batch_size, lr, weight_decay: Adam on shuffled mini-batches (the last, smaller
        batch of an epoch is merged into the previous one).
    tol, n_iter_no_change: stop before ``epochs`` once the epoch's mean loss has not fallen
        below the best so far by more than ``tol`` for ``n_iter_no_change`` epochs in a row
        (``converged_`` then says so); ``tol=None`` trains all ``epochs``.
    temperature_instance, temperature_cluster: NT-Xent temperatures (Li et al.: 0.5 and 1.0).
    entropy_weight: weight of the cluster-size entropy penalty.
    latent_dim, width, projection_dim: sizes of the latent, of the first convolution and of
        the instance projection.
    assign: ``"head"`` (argmax of the cluster head) or ``"kmeans"`` (k-means on the latent).
    random_state: seeds the weights, the batches and the augmentations: two fits with the same
        value give the same model.
    snapshot_steps: training steps (0 = before training) at which the latent of every sample
        and its cluster are kept in ``history_["snapshots"]`` (for the t-SNE figure).
    checkpoint: a file to save the training state to after each epoch; a fit that finds one
        written for the same settings and data shape resumes from it (more ``epochs`` than
        the checkpoint holds continue its training).
    n_threads: torch threads while fitting and predicting (restored afterwards). These small
        convolutions gain little from more threads and lose much on a busy machine; ``None``
        keeps torch's setting.
    progress: show a tqdm bar over the epochs.

    Attributes: ``labels_``, ``history_`` (``"loss"``, ``"instance"``, ``"cluster"``,
    ``"entropy"``: one value per step; ``"snapshots"``: {step: {"latent", "labels"}}),
    ``augmentations_`` (the names used), ``n_steps_``, ``n_epochs_`` (epochs trained) and
    ``converged_`` (the ``tol`` rule stopped the training).
    """

    def __init__(
        self,
        n_clusters: int = 9,
        augmentations: Sequence[str] | str = "auto",
        strengths: dict[str, float] | None = None,
        augment_probability: float = 0.5,
        epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        tol: float | None = None,
        n_iter_no_change: int = 10,
        temperature_instance: float = 0.5,
        temperature_cluster: float = 1.0,
        entropy_weight: float = 1.0,
        latent_dim: int = 64,
        width: int = 16,
        projection_dim: int = 32,
        assign: str = "head",
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
        snapshot_steps: Sequence[int] = (),
        checkpoint: str | Path | None = None,
        n_threads: int | None = 1,
        progress: bool = False,
    ):
        self.n_clusters = n_clusters
        self.augmentations = augmentations
        self.strengths = strengths
        self.augment_probability = augment_probability
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.temperature_instance = temperature_instance
        self.temperature_cluster = temperature_cluster
        self.entropy_weight = entropy_weight
        self.latent_dim = latent_dim
        self.width = width
        self.projection_dim = projection_dim
        self.assign = assign
        self.standardize = standardize
        self.random_state = random_state
        self.snapshot_steps = snapshot_steps
        self.checkpoint = checkpoint
        self.n_threads = n_threads
        self.progress = progress

    # --- fitting ------------------------------------------------------------------------------

    def fit(
        self, X: np.ndarray, y: object = None, *, graph: sp.sparray | None = None
    ) -> ContrastiveClustering:
        """Train on ``X``; ``graph`` (sparse ``(n, n)``, e.g. ``graph.tile_graph``) gives each
        sample's grid neighbours for ``neighbour_mix``."""
        with torch_threads(self.n_threads):
            return self._fit(X, graph)

    def _fit(self, X: np.ndarray, graph: sp.sparray | None):
        X = check_samples(X)
        n = len(X)
        check_n_clusters(self.n_clusters, n)
        if n < 2:
            raise ValueError(f"X: {n} sample; contrastive clustering needs at least 2")
        graph = check_graph(graph, n, who=type(self).__name__)
        if self.assign not in ASSIGNMENTS:
            raise ValueError(f"assign={self.assign!r}; choose one of {ASSIGNMENTS}")
        if self.tol is not None and self.n_iter_no_change < 1:
            raise ValueError(f"n_iter_no_change={self.n_iter_no_change}: at least 1 epoch")
        names = self._augmentation_names(X, graph)
        mean, scale = _standard_stats(X, self.standardize)
        X = ((X - mean) / scale).astype(np.float32)
        context = Context(data=torch.from_numpy(X), neighbours=graph)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        self.input_shape_ = X.shape[1:]
        self.mean_, self.scale_ = mean, scale
        self.augmentations_ = names
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _Network(
                X.shape[1],
                X.shape[2],
                self.latent_dim,
                self.width,
                self.n_clusters,
                self.projection_dim,
            )
        optimiser = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        history = {"loss": [], "instance": [], "cluster": [], "entropy": [], "snapshots": {}}
        epoch, step = 0, 0
        stop = {"best": math.inf, "stale": 0, "converged": False}  # the tol rule's state
        tag = self._checkpoint_tag(X.shape, names)
        if self.checkpoint is not None and Path(self.checkpoint).is_file():
            state = load_checkpoint(self.checkpoint)
            if state.get("tag") == tag and state["epoch"] <= self.epochs:
                net.load_state_dict(state["model"])
                optimiser.load_state_dict(state["optimiser"])
                generator.set_state(state["generator"])
                epoch, step = state["epoch"], state["step"]
                history = _history_from_state(state["history"])
                stop = state.get("stop", stop)
        self.network_ = net
        wanted = set(int(s) for s in self.snapshot_steps)
        if 0 in wanted and step == 0:
            history["snapshots"][0] = self._snapshot(X)
        n_batches = max(1, n // self.batch_size)
        bar = tqdm(
            range(epoch, epoch if stop["converged"] else self.epochs),
            desc="contrastive clustering",
            disable=not self.progress,
            initial=epoch,
            total=self.epochs,
        )
        data = context.data
        for epoch in bar:
            first = step
            order = torch.randperm(n, generator=generator)
            net.train()
            for index in torch.tensor_split(order, n_batches):
                context.index = index
                batch = data[index]
                view_a = augment(batch, names, **self._augment_kw(generator, context))
                view_b = augment(batch, names, **self._augment_kw(generator, context))
                _, z_a, p_a = net(view_a)
                _, z_b, p_b = net(view_b)
                inst = instance_loss(z_a, z_b, self.temperature_instance)
                clus, ent = cluster_loss(p_a, p_b, self.temperature_cluster)
                loss = inst + clus + self.entropy_weight * ent
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                step += 1
                for key, value in (
                    ("loss", loss),
                    ("instance", inst),
                    ("cluster", clus),
                    ("entropy", ent),
                ):
                    history[key].append(float(value.detach()))
                if step in wanted:
                    history["snapshots"][step] = self._snapshot(X)
                    net.train()
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
            if self.tol is not None:
                self._update_stop(stop, float(np.mean(history["loss"][first:])))
            if self.checkpoint is not None:
                save_checkpoint(
                    self.checkpoint,
                    {
                        "tag": tag,
                        "epoch": epoch + 1,
                        "step": step,
                        "model": net.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "generator": generator.get_state(),
                        "history": _history_to_state(history),
                        "stop": stop,
                    },
                )
            if stop["converged"]:
                bar.close()
                break
        net.eval()
        self.history_ = history
        self.n_steps_ = step
        self.n_epochs_ = step // n_batches
        self.converged_ = bool(stop["converged"])
        latent, prob = self._forward_standardised(X)
        if self.assign == "kmeans":
            self.kmeans_ = KMeans(self.n_clusters, n_init=10, random_state=seed)
            self.labels_ = self.kmeans_.fit_predict(unit_rows(latent)).astype(np.int64)
        else:
            self.labels_ = prob.argmax(axis=1).astype(np.int64)
        return self

    def _update_stop(self, stop: dict, epoch_loss: float) -> None:
        """The ``tol`` rule: count epochs without an improvement of more than ``tol``."""
        if epoch_loss < stop["best"] - self.tol:
            stop["stale"] = 0
        else:
            stop["stale"] += 1
        stop["best"] = min(stop["best"], epoch_loss)
        stop["converged"] = stop["stale"] >= self.n_iter_no_change

    def fit_predict(
        self, X: np.ndarray, y: object = None, *, graph: sp.sparray | None = None
    ) -> np.ndarray:
        """Fit on ``X`` (and ``graph``) and return the cluster of each sample."""
        return self.fit(X, y, graph=graph).labels_

    def fit_transform(
        self, X: np.ndarray, y: object = None, *, graph: sp.sparray | None = None
    ) -> np.ndarray:
        """Fit on ``X`` (and ``graph``) and return the latent of each sample."""
        return self.fit(X, y, graph=graph).transform(X)

    # --- using a fitted model -----------------------------------------------------------------

    def transform(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """The latent ``h`` of each sample, ``float32 (n_samples, latent_dim)`` (``graph`` is
        accepted and not used)."""
        return self._forward(X)[0]

    def predict_proba(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """The cluster head's soft assignment, ``(n_samples, n_clusters)``."""
        return self._forward(X)[1]

    def predict(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """Cluster of each sample (argmax of the head, or k-means on the latent)."""
        latent, prob = self._forward(X)
        if self.assign == "kmeans":
            return self.kmeans_.predict(unit_rows(latent)).astype(np.int64)
        return prob.argmax(axis=1).astype(np.int64)

    def _forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "network_")
        X = check_samples(X)
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X: fitted on (channels, steps) {self.input_shape_}, got {X.shape[1:]}"
            )
        return self._forward_standardised(((X - self.mean_) / self.scale_).astype(np.float32))

    def _forward_standardised(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.network_.eval()
        latents, probs = [], []
        with torch.no_grad(), torch_threads(self.n_threads):
            for chunk in torch.split(torch.from_numpy(X), 4096):
                h, _, p = self.network_(chunk)
                latents.append(h)
                probs.append(p)
        return torch.cat(latents).numpy(), torch.cat(probs).numpy()

    def _snapshot(self, X: np.ndarray) -> dict[str, np.ndarray]:
        latent, prob = self._forward_standardised(X)
        return {"latent": latent, "labels": prob.argmax(axis=1)}

    # --- checks -------------------------------------------------------------------------------

    def _augmentation_names(self, X: np.ndarray, graph: sp.csr_array | None) -> list[str]:
        week = len(WEEK_DAY_KINDS) * HOURS_PER_DAY
        if isinstance(self.augmentations, str):
            if self.augmentations != "auto":
                raise ValueError(f"augmentations={self.augmentations!r}: 'auto' or a list")
            return [
                name
                for name in DEFAULT_AUGMENTATIONS
                if not (name == "day_resample" and X.shape[2] != week)
                and not (name == "neighbour_mix" and graph is None)
            ]
        names = check_augmentations(self.augmentations)
        if "neighbour_mix" in names and graph is None:
            raise ValueError("augmentations: neighbour_mix needs the tiles' graph (fit graph=)")
        return names

    def _augment_kw(self, generator: torch.Generator, context: Context) -> dict:
        return {
            "strengths": self.strengths,
            "probability": self.augment_probability,
            "generator": generator,
            "context": context,
        }

    def _checkpoint_tag(self, shape: tuple, names: list[str]) -> str:
        skip = ("epochs", "progress", "checkpoint", "snapshot_steps", "n_threads")
        params = {k: v for k, v in self.get_params().items() if k not in skip}
        return repr((tuple(shape), names, sorted(params.items(), key=lambda kv: kv[0])))


def _standard_stats(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation over the samples and steps (1 where a channel
    is constant), or ``(0, 1)`` when ``standardize`` is off."""
    if not standardize:
        return np.zeros((X.shape[1], 1), np.float32), np.ones((X.shape[1], 1), np.float32)
    mean = X.mean(axis=(0, 2), dtype=np.float64)[:, None]
    scale = X.std(axis=(0, 2), dtype=np.float64)[:, None]
    scale[scale < 1e-12] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def unit_rows(latent: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length: the contrastive losses compare latents by cosine."""
    return latent / np.maximum(np.linalg.norm(latent, axis=1, keepdims=True), 1e-12)


def latent_kmeans(latent: np.ndarray, n_clusters: int, random_state: int = 0) -> np.ndarray:
    """k-means (10 initialisations) on the latent scaled to unit rows: the read-out that
    checks the latent apart from the cluster head."""
    kmeans = KMeans(n_clusters, n_init=10, random_state=random_state)
    return kmeans.fit_predict(unit_rows(latent)).astype(np.int64)


def _history_to_state(history: dict) -> dict:
    state = {
        k: torch.tensor(v, dtype=torch.float64) for k, v in history.items() if k != "snapshots"
    }
    state["snapshots"] = {
        str(step): {k: torch.from_numpy(np.asarray(v)) for k, v in snap.items()}
        for step, snap in history["snapshots"].items()
    }
    return state


def _history_from_state(state: dict) -> dict:
    history = {k: v.tolist() for k, v in state.items() if k != "snapshots"}
    history["snapshots"] = {
        int(step): {k: v.numpy() for k, v in snap.items()}
        for step, snap in state["snapshots"].items()
    }
    return history


# --- runs over seeds and augmentation variants (the chapter's score and ablation tables) --------


def ablation_variants(
    augmentations: Sequence[str], optional: Sequence[str] = ("neighbour_mix",)
) -> dict[str, list[str]]:
    """Augmentation lists for an ablation: ``"all"`` (the given list), each one removed in turn
    (``"- name"``), and each ``optional`` one not in the list added (``"+ name"``)."""
    names = check_augmentations(augmentations)
    variants = {"all": names}
    variants.update({f"- {name}": [n for n in names if n != name] for name in names})
    variants.update({f"+ {name}": [*names, name] for name in optional if name not in names})
    return variants


def snapshot_scores(
    model: ContrastiveClustering, truth: np.ndarray, random_state: int = 0
) -> pd.DataFrame:
    """ARI and NMI against ``truth`` at each training step kept in ``history_["snapshots"]``:
    of the head's clusters and of k-means on the latent (unit rows), one row per step."""
    from ..metrics import external_scores

    rows = []
    for step, snap in sorted(model.history_["snapshots"].items()):
        head = external_scores(snap["labels"], truth)
        latent = external_scores(
            latent_kmeans(snap["latent"], model.n_clusters, random_state), truth
        )
        rows.append(
            {
                "step": step,
                "ARI head": head["ARI"],
                "ARI latent k-means": latent["ARI"],
                "NMI head": head["NMI"],
                "NMI latent k-means": latent["NMI"],
            }
        )
    return pd.DataFrame(rows).set_index("step")


def score_variants(
    X: np.ndarray,
    truth: np.ndarray,
    variants: dict[str, list[str]],
    seeds: Sequence[int],
    *,
    graph: sp.sparray | None = None,
    progress: bool = False,
    snapshot_variants: Sequence[str] = ("all",),
    **params,
) -> tuple[dict, list[dict]]:
    """Fit :class:`ContrastiveClustering` (``params``) for each variant's augmentations and
    seed; score the cluster head's labels and k-means on the latent against ``truth``. Only
    the fits of ``snapshot_variants`` keep the latent snapshots of ``params["snapshot_steps"]``.

    Returns the fitted models ``{(variant, seed): model}`` and one row per fit (variant, seed,
    ARI/NMI of the head, ARI/NMI of k-means on the latent, epochs trained, seconds)."""
    import time

    from ..metrics import external_scores

    models, rows = {}, []
    jobs = [(variant, seed) for variant in variants for seed in seeds]
    for variant, seed in tqdm(jobs, desc="fits", disable=not progress):
        t0 = time.perf_counter()
        keep = params.get("snapshot_steps", ()) if variant in snapshot_variants else ()
        options = {**params, "snapshot_steps": keep}
        model = ContrastiveClustering(
            augmentations=variants[variant], random_state=seed, **options
        ).fit(X, graph=graph if "neighbour_mix" in variants[variant] else None)
        seconds = time.perf_counter() - t0
        latent = latent_kmeans(model.transform(X), model.n_clusters, seed)
        head = external_scores(model.labels_, truth)
        on_latent = external_scores(latent, truth)
        models[variant, seed] = model
        rows.append(
            {
                "variant": variant,
                "seed": seed,
                "ARI head": head["ARI"],
                "NMI head": head["NMI"],
                "ARI latent k-means": on_latent["ARI"],
                "NMI latent k-means": on_latent["NMI"],
                "epochs": model.n_epochs_,
                "seconds": seconds,
            }
        )
    return models, rows
