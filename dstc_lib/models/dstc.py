"""DSTC, deep spatial temporal clustering: our reading of the paper's abstract ("a lightweight
spatiotemporal autoencoder and graph construction, optimizing clustering and reconstruction
objectives to learn representations and cluster assignments"); the full text is not public.

The model, on ``X (n_samples, n_channels, n_steps)`` and an optional tile graph ``A``:

- **Graph convolution, SIGN/TAGCN style.** With ``P`` the row-normalised graph with self loops,
  the encoder sees the tile's own week and its neighbourhood averages ``[X, P X, ..., P^H X]``
  stacked as channels; the first (linear) temporal convolution thus applies one learnt
  spatio-temporal filter per hop, ``sum_h conv_h(P^h X)``, a polynomial graph filter
  (Du et al. 2017; Frasca et al. 2020). ``P^h`` is precomputed once, sparse, on the whole city
  and a mini-batch's rows of ``P^h X`` are computed on the fly (``P^h[batch] @ X``): mini-batches
  of tiles then carry their neighbourhoods exactly, with no neighbour sampling, no dense matrix,
  and memory for ``X`` only. Cost per batch: one sparse row-slice product per hop. With
  ``graph_weights="similarity"`` the edges of ``P`` are weighted by how alike the two tiles'
  features are (a bilateral filter, :func:`dstc_lib.graph.similarity_weights`): a tile borrows
  from neighbours that look like it and little across a zone border; still precomputed, still
  exact on mini-batches, no parameters. The per-hop filters of the first convolution are the
  learnt part: a hop whose filter goes to zero is closed.
- **Temporal autoencoder.** Three strided 1-D convolutions with circular padding (the week wraps
  around) down to a small latent vector; the decoder mirrors them (upsampling + convolutions)
  and reconstructs the tile's own week ``X``.
- **Training.** Autoencoder pretraining (MSE), Student-t centroids initialised by k-means on the
  latent space, then joint optimisation of ``lambda_rec * MSE + lambda_clu * KL(P_t || Q)`` with
  the target distribution ``P_t`` (the soft assignments, sharpened) recomputed on all samples
  every ``update_interval`` steps (DEC with ``lambda_rec=0``, IDEC with ``lambda_rec>0``;
  ``graph=None`` removes the graph). DEC's target also divides by each cluster's size, which
  pulls the clusters towards equal sizes; city archetypes are far from equal (a stadium is a
  few tiles, housing a quarter of a city), so by default the target sharpens each tile's
  assignment alone (``balance=0``; ``balance=1`` is DEC's).
  The joint phase stops, as DEC's, when fewer than ``tol`` of the samples change cluster between
  two target updates. Mini-batches are ``n_samples / 32`` (16 to 256) by default, so that a
  small city gets as many optimisation steps per epoch as a large one.
- **Inputs.** Each (channel, step) feature is standardised inside the estimator
  (``standardize``), with the training statistics reused by ``predict``/``transform``.

Deterministic for a fixed ``random_state``: weights are drawn under a forked torch RNG, batches
from a private ``torch.Generator``, deterministic algorithms are enforced while fitting. With a
``checkpoint_dir`` every epoch is saved (weights, optimiser, generator, target, history) and
``resume=True`` continues a stopped run to the same weights as an uninterrupted one.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ..checks import check_graph, check_n_clusters, check_samples
from ..features import fit_standard_scaler
from ..graph import normalise_graph, similarity_weights
from ..resources import check_model_size
from ..seeding import local_torch
from .checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_NAME = "dstc.pt"


# --- the clustering objective ------------------------------------------------------------------


def soft_assignment(z: torch.Tensor, centroids: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC's Student-t similarity of each latent vector to each centroid, rows summing to 1:
    ``q_ij ∝ (1 + |z_i - mu_j|^2 / alpha) ^ -((alpha + 1) / 2)``."""
    dist2 = torch.cdist(z, centroids).pow(2)
    q = (1.0 + dist2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor, balance: float = 1.0) -> torch.Tensor:
    """DEC's sharpened target: ``p_ij ∝ q_ij^2 / f_j^balance`` with ``f_j = sum_i q_ij`` (the
    soft cluster size), rows summing to 1. Confident assignments gain weight; with
    ``balance=1`` (DEC, Xie et al. 2016) big clusters lose it, which pulls the clusters towards
    equal sizes; ``balance=0`` sharpens each row alone and keeps the sizes the data have.

    Examples
    --------
    >>> q = torch.tensor([[0.6, 0.4], [0.9, 0.1], [0.9, 0.1]])
    >>> [round(float(v), 3) for v in target_distribution(q, balance=0.0)[0]]  # 0.36 : 0.16
    [0.692, 0.308]
    >>> [round(float(v), 3) for v in target_distribution(q)[0]]  # the big cluster loses it
    [0.36, 0.64]
    """
    weight = q.pow(2) / q.sum(dim=0, keepdim=True).pow(balance)
    return weight / weight.sum(dim=1, keepdim=True)


def clustering_loss(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``KL(P || Q)`` averaged over the samples of a batch."""
    return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(1).mean()


# --- the network -------------------------------------------------------------------------------


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Conv1d:
    return nn.Conv1d(c_in, c_out, kernel, stride, kernel // 2, padding_mode="circular")


class SpatioTemporalAE(nn.Module):
    """Temporal convolutional autoencoder over ``(channels * hops, steps)`` inputs that
    reconstructs ``(channels, steps)``; the hops are the graph convolution (module docstring)."""

    def __init__(
        self,
        n_channels: int,
        n_steps: int,
        hops: int,
        latent_dim: int,
        width: int,
        n_clusters: int,
    ):
        super().__init__()
        self.n_channels, self.n_steps = n_channels, n_steps
        if n_steps % 8:
            raise ValueError(f"n_steps={n_steps}: the autoencoder needs a multiple of 8")
        self.reduced = n_steps // 8  # 4-step patches, then one stride-2 convolution
        self.width = width
        self.encoder = nn.Sequential(
            nn.Conv1d(n_channels * (hops + 1), width, 4, stride=4),  # hours -> 4-hour patches
            nn.GELU(),
            _conv(width, width, 5, 2),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(width * self.reduced, latent_dim),
        )
        self.expand = nn.Linear(latent_dim, width * self.reduced)
        self.decoder = nn.Sequential(
            nn.GELU(),
            nn.Upsample(scale_factor=2),
            _conv(width, width, 5),
            nn.GELU(),
            nn.ConvTranspose1d(width, n_channels, 4, stride=4),  # patches -> hours
        )
        self.centroids = nn.Parameter(torch.zeros(n_clusters, latent_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.expand(z).view(len(z), self.width, self.reduced)
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return z, self.decode(z)


# --- the estimator -----------------------------------------------------------------------------


def _fresh_seed(random_state: int | np.random.RandomState | None) -> int:
    """The integer seed of one ``fit``: ``random_state`` itself if it is an int, else a number
    drawn from ``check_random_state(random_state)`` (None: fresh randomness)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def auto_batch_size(n_samples: int) -> int:
    """``batch_size="auto"``: ``ceil(n_samples / 32)`` clipped to [16, 256].

    Examples
    --------
    >>> auto_batch_size(720), auto_batch_size(4_864), auto_batch_size(141_514)
    (23, 152, 256)
    """
    return int(min(256, max(16, -(-n_samples // 32))))


class DSTC(ClusterMixin, BaseEstimator):
    """Deep spatial temporal clustering (module docstring), a scikit-learn estimator.

    Parameters
    ----------
    n_clusters : int
        Number of clusters.
    hops : int
        Neighbourhood depth of the graph convolution (ignored without a graph; 0: no graph).
    lambda_rec, lambda_clu : float
        Weights of the reconstruction and clustering terms in the joint phase
        (``lambda_rec=0``: DEC; ``epochs=0``: autoencoder + k-means).
    pretrain_epochs, epochs : int
        Epochs of autoencoder pretraining and of the joint phase.
    batch_size : int or "auto"
        Mini-batch size; ``"auto"``: ``n_samples / 32`` clipped to [16, 256], so that an epoch
        is at least 32 optimisation steps on a small city (a fixed 256 gives a 720-tile city
        3 steps an epoch, too few to train the autoencoder) and batches of 256 on a large one.
    latent_dim, width, lr : int, int, float
        Latent dimension, convolution width, Adam's learning rate.
    update_interval : int or None
        Steps between updates of the target distribution (None: once per epoch).
    tol : float
        Stopping rule of the joint phase, DEC's: stop when, at an update of the target, fewer
        than this share of the samples changed cluster since the previous update (0: always
        run ``epochs``). It looks at the assignments only, never at a truth.
    alpha : float
        Degrees of freedom of the Student-t kernel.
    balance : float
        Exponent of the cluster sizes in the target, ``p_ij ∝ q_ij^2 / f_j^balance``
        (:func:`target_distribution`), between 0 and 1. DEC's 1 pushes the clusters towards
        equal sizes, moving tiles from large clusters to small ones; 0 (the default) sharpens
        each tile's assignment alone, so the clusters keep the sizes the data give them (city
        archetypes are far from equal in size).
    smooth_target : bool
        Average the soft assignments over the graph before sharpening them into the target.
    graph_weights : {"uniform", "similarity"}
        ``"uniform"``: every neighbour counts the same in ``P``; ``"similarity"``: each edge is
        weighted by the similarity of its two tiles' (standardised) features
        (:func:`dstc_lib.graph.similarity_weights`, a bilateral filter): a tile borrows from
        the neighbours that look like it, little across a zone border.
    bandwidth : float
        Kernel width of the ``"similarity"`` weights, in units of the median edge distance.
    standardize : bool
        Standardise every (channel, step) feature with the training samples' mean and standard
        deviation (stored, and applied again in ``predict``/``transform``): raw and
        pre-standardised inputs then give the same clustering.
    random_state : int, numpy.random.RandomState or None
        Seeds the weights, the batches and the k-means initialisation; None: fresh randomness.
    progress : bool
        Show a progress bar while fitting.
    checkpoint_dir : path or None
        Save the training state there after every epoch.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` if there is one.
    n_threads : int or None
        Torch and BLAS threads while fitting and predicting (None: unchanged).

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster of each training sample.
    history_ : list of dict
        One row per optimisation step: ``phase``, ``epoch``, ``step``, ``loss``, ``rec``,
        ``clu`` and ``changed`` (the share of samples that changed cluster at this step's
        update of the target; NaN where the target was not updated) —
        ``pd.DataFrame(model.history_)`` is the loss table.
    stopped_epoch_ : int or None
        The joint-phase epoch at which the stopping rule ended training (None: it ran all
        ``epochs``).
    cluster_centers_ : numpy.ndarray
        ``(n_clusters, latent_dim)`` Student-t centroids in the latent space.
    n_parameters_ : int
        Trainable parameters of the network.
    fit_seconds_ : float
        Wall time of ``fit`` (with the time before a resume).
    mean_, scale_ : numpy.ndarray or None
        ``(n_channels, n_steps)`` standardisation statistics (None without ``standardize``).
    n_features_in_ : int
        ``n_channels * n_steps`` of the training samples.

    Examples
    --------
    >>> from dstc_lib.graph import grid_graph
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (8, 2, 16)), rng.normal(4, 1, (8, 2, 16))])
    >>> model = DSTC(2, pretrain_epochs=5, epochs=2, batch_size=8, latent_dim=2, width=4,
    ...              random_state=0)
    >>> labels = model.fit_predict(X, graph=grid_graph(4, 4))
    >>> len(set(labels[:8])), len(set(labels[8:])), bool(labels[0] != labels[-1])
    (1, 1, True)
    >>> model.transform(X, graph=grid_graph(4, 4)).shape
    (16, 2)
    """

    def __init__(
        self,
        n_clusters: int = 9,
        *,
        hops: int = 2,
        lambda_rec: float = 1.0,
        lambda_clu: float = 1.0,
        pretrain_epochs: int = 30,
        epochs: int = 30,
        batch_size: int | str = "auto",
        latent_dim: int = 10,
        width: int = 32,
        lr: float = 3e-3,
        update_interval: int | None = None,
        tol: float = 0.001,
        alpha: float = 1.0,
        balance: float = 0.0,
        smooth_target: bool = False,
        graph_weights: str = "uniform",
        bandwidth: float = 1.0,
        standardize: bool = True,
        random_state: int | np.random.RandomState | None = None,
        progress: bool = False,
        checkpoint_dir: Path | str | None = None,
        resume: bool = False,
        n_threads: int | None = None,
    ):
        self.n_clusters = n_clusters
        self.hops = hops
        self.lambda_rec = lambda_rec
        self.lambda_clu = lambda_clu
        self.pretrain_epochs = pretrain_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.latent_dim = latent_dim
        self.width = width
        self.lr = lr
        self.update_interval = update_interval
        self.tol = tol
        self.alpha = alpha
        self.balance = balance
        self.smooth_target = smooth_target
        self.graph_weights = graph_weights
        self.bandwidth = bandwidth
        self.standardize = standardize
        self.random_state = random_state
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.n_threads = n_threads

    # -- inputs --

    def _check_fit_input(self, X: Any, graph: Any) -> tuple[np.ndarray, sp.csr_array | None]:
        """Every check of ``fit``, before any fitted attribute is set."""
        X = check_samples(X)
        check_n_clusters(self.n_clusters, len(X))
        if X.shape[2] % 8:
            raise ValueError(f"X: {X.shape[2]} steps; the autoencoder needs a multiple of 8")
        if isinstance(self.tol, bool) or not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol={self.tol!r}: must be a number >= 0")
        if isinstance(self.balance, bool) or not (
            isinstance(self.balance, numbers.Real) and 0 <= self.balance <= 1
        ):
            raise ValueError(f"balance={self.balance!r}: must be a number from 0 to 1")
        for name in ("hops", "pretrain_epochs", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"{name}={value!r}: must be an integer >= 0")
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, numbers.Integral)
            or self.batch_size < 1
        ):
            raise ValueError(f"batch_size={self.batch_size!r}: must be 'auto' or an integer >= 1")
        for name in ("latent_dim", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name}={value!r}: must be an integer >= 1")
        if self.graph_weights not in ("uniform", "similarity"):
            raise ValueError(
                f"graph_weights={self.graph_weights!r}: choose 'uniform' or 'similarity'"
            )
        if isinstance(self.bandwidth, bool) or not (
            isinstance(self.bandwidth, numbers.Real) and self.bandwidth > 0
        ):
            raise ValueError(f"bandwidth={self.bandwidth!r}: must be a number > 0")
        graph = check_graph(graph, len(X), who="DSTC")
        return X, graph

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            return X
        out = np.subtract(X, self.mean_, dtype=np.float32)  # one float32 copy, divided in place
        out /= self.scale_
        return out

    def _propagators(
        self, graph: sp.csr_array | None, hops: int, flat: np.ndarray
    ) -> list[sp.csr_array]:
        """``[P, P^2, ..., P^H]`` of the row-normalised graph with self loops (empty: no graph),
        its edges weighted by feature similarity with ``graph_weights="similarity"`` (the scale
        learnt at ``fit``, ``edge_scale_``, is reused for other samples)."""
        if graph is None or hops == 0:
            return []
        if self.graph_weights == "similarity":
            scale = getattr(self, "edge_scale_", None)
            graph, scale = similarity_weights(graph, flat, bandwidth=self.bandwidth, scale=scale)
            self.edge_scale_ = scale
        p = normalise_graph(graph, self_loops=True, mode="row")
        powers = [p]
        for _ in range(hops - 1):
            powers.append(sp.csr_array(powers[-1] @ p))
        return powers

    def _batch(self, flat: np.ndarray, powers: list[sp.csr_array], idx: np.ndarray) -> torch.Tensor:
        """Encoder input of samples ``idx``: their own features and ``P^h X`` rows, stacked as
        channels ``(len(idx), channels * (hops + 1), steps)``."""
        parts = [flat[idx]] + [p[idx] @ flat for p in powers]
        x = np.concatenate([part.reshape(len(idx), self.n_channels_, -1) for part in parts], 1)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    # -- fitting --

    def fit(
        self,
        X: np.ndarray,
        y: Any = None,
        *,
        graph: sp.sparray | None = None,
        callback: Callable[[int, DSTC], None] | None = None,
        pretrained: DSTC | None = None,
    ) -> DSTC:
        """Train on ``X (n_samples, n_channels, n_steps)`` with the optional tile ``graph``.

        Parameters
        ----------
        X : array-like
            The samples.
        y : ignored
        graph : scipy sparse array or None
            Adjacency whose rows follow ``X``'s (e.g. :func:`dstc_lib.graph.tile_graph`);
            None: no graph (IDEC).
        callback : callable or None
            ``callback(epoch, self)`` after each epoch (after its checkpoint); an exception
            there stops training, ``resume`` continues.
        pretrained : DSTC or None
            A DSTC fitted on the same data with the same architecture, pretraining settings
            and seed; its pretrained autoencoder is reused (the result is the same as
            pretraining again), so ablations that differ only in the joint phase share one.

        Returns
        -------
        DSTC
            ``self``, fitted.
        """
        t0 = time.perf_counter()
        X, graph = self._check_fit_input(X, graph)
        hops = 0 if graph is None else self.hops
        check_model_size(  # on torch's meta device: a huge width is refused, not allocated
            lambda: SpatioTemporalAE(
                X.shape[1], X.shape[2], hops, self.latent_dim, self.width, self.n_clusters
            ),
            f"DSTC with width={self.width}, latent_dim={self.latent_dim}",
            "lower width (default 32) or latent_dim (default 10)",
        )
        n, self.n_channels_, self.n_steps_ = X.shape
        self.n_features_in_ = self.n_channels_ * self.n_steps_
        if self.standardize:
            scaler = fit_standard_scaler(X.reshape(n, -1))  # a block of tiles at a time
            self.mean_ = scaler.mean_.reshape(X.shape[1:]).astype(np.float32)
            self.scale_ = scaler.scale_.reshape(X.shape[1:]).astype(np.float32)
        else:
            self.mean_ = self.scale_ = None
        flat = self._scaled(X).reshape(n, -1)
        self.edge_scale_ = None
        powers = self._propagators(graph, self.hops, flat)
        self.graph_hops_ = len(powers)
        self.seed_ = _fresh_seed(self.random_state)
        self.batch_size_ = auto_batch_size(n) if self.batch_size == "auto" else self.batch_size
        with local_torch(self.seed_, self.n_threads):
            self.module_ = SpatioTemporalAE(
                self.n_channels_,
                self.n_steps_,
                len(powers),
                self.latent_dim,
                self.width,
                self.n_clusters,
            )
            self.n_parameters_ = sum(p.numel() for p in self.module_.parameters())
            self._train(flat, powers, callback, pretrained)
            self.labels_ = self._predict(flat, powers)
        self.fit_seconds_ = time.perf_counter() - t0 + self._resumed_seconds
        return self

    def _train(self, flat, powers, callback, pretrained) -> None:
        n = len(flat)
        module = self.module_
        generator = torch.Generator().manual_seed(self.seed_)
        batch = self.batch_size_
        steps_per_epoch = -(-n // batch)
        interval = self.update_interval or steps_per_epoch
        total = self.pretrain_epochs + self.epochs
        self.history_: list[dict] = []
        self._resumed_seconds = 0.0
        target, optimiser_state, previous = None, None, None
        start, step = 0, 0
        self.stopped_epoch_ = None
        path = Path(self.checkpoint_dir) / CHECKPOINT_NAME if self.checkpoint_dir else None
        if path is not None and self.resume and path.is_file():
            state = load_checkpoint(path)
            self.seed_ = int(state["seed"])
            if state["config"] != self._config(n):
                raise ValueError(f"{path} was written by a different configuration or data")
            module.load_state_dict(state["model"])
            optimiser_state = state["optimiser"]
            generator.set_state(state["generator"])
            self.history_ = state["history"]
            target = state["target"]
            start, step = state["epoch"], state["step"]
            previous = state["assignments"]
            self.stopped_epoch_ = state["stopped_epoch"]
            if self.stopped_epoch_ is not None:
                start = total  # the stopping rule had ended this run
            self._resumed_seconds = state["seconds"]
        elif pretrained is not None:
            self._check_pretrained(pretrained, n)
            module.load_state_dict(pretrained.pretrain_state_["model"])
            generator.set_state(pretrained.pretrain_state_["generator"])
            self.history_ = [h for h in pretrained.history_ if h["phase"] == "pretrain"]
            start, step = self.pretrain_epochs, pretrained.pretrain_state_["step"]
        optimiser = None
        t_start = time.perf_counter()
        bar = tqdm(
            range(start, total), desc="DSTC", disable=not self.progress, initial=start, total=total
        )
        for epoch in bar:
            joint = epoch >= self.pretrain_epochs
            if epoch == self.pretrain_epochs:
                self._keep_pretrained(generator, step)
            if optimiser is None or epoch == self.pretrain_epochs:  # a fresh one per phase
                optimiser = torch.optim.Adam(module.parameters(), lr=self.lr)
                if optimiser_state is not None and epoch not in (0, self.pretrain_epochs):
                    optimiser.load_state_dict(optimiser_state)
            if joint and epoch == self.pretrain_epochs and target is None:
                self._init_centroids(flat, powers)
            order = torch.randperm(n, generator=generator).numpy()
            module.train()
            for b in range(steps_per_epoch):
                idx = np.sort(order[b * batch : (b + 1) * batch])
                changed = float("nan")
                if joint and (target is None or step % interval == 0):
                    target, assignments = self._target(flat, powers)
                    if previous is not None:
                        changed = float((assignments != previous).float().mean())
                    previous = assignments
                    if changed < self.tol:  # NaN (first update) never stops
                        self.stopped_epoch_ = epoch
                        break
                x = self._batch(flat, powers, idx)
                z, recon = module(x)
                rec = F.mse_loss(recon, x[:, : self.n_channels_])
                if joint:
                    q = soft_assignment(z, module.centroids, self.alpha)
                    clu = clustering_loss(q, target[torch.from_numpy(idx)])
                    loss = self.lambda_rec * rec + self.lambda_clu * clu
                else:
                    clu = torch.zeros(())
                    loss = rec
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                self.history_.append(
                    {
                        "phase": "joint" if joint else "pretrain",
                        "epoch": epoch,
                        "step": step,
                        "loss": loss.item(),
                        "rec": rec.item(),
                        "clu": clu.item(),
                        "changed": changed,
                    }
                )
                step += 1
            bar.set_postfix(phase="joint" if joint else "pretrain", loss=f"{loss.item():.4f}")
            if path is not None:
                save_checkpoint(
                    path,
                    {
                        "config": self._config(n),
                        "seed": self.seed_,
                        "model": module.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "generator": generator.get_state(),
                        "history": self.history_,
                        "target": target,
                        "assignments": previous,
                        "stopped_epoch": self.stopped_epoch_,
                        "epoch": epoch + 1,
                        "step": step,
                        "seconds": self._resumed_seconds + time.perf_counter() - t_start,
                    },
                )
            if callback is not None:
                callback(epoch, self)
            if self.stopped_epoch_ is not None:
                break
        bar.close()
        if total == self.pretrain_epochs:
            self._keep_pretrained(generator, step)
        if self.epochs == 0:
            self._init_centroids(flat, powers)  # autoencoder + k-means

    def _keep_pretrained(self, generator: torch.Generator, step: int) -> None:
        """Remember the state at the end of pretraining, for ``fit(pretrained=self)``."""
        self.pretrain_state_ = {
            "model": {k: v.detach().clone() for k, v in self.module_.state_dict().items()},
            "generator": generator.get_state(),
            "step": step,
        }

    def _check_pretrained(self, pretrained: DSTC, n: int) -> None:
        keys = ("hops", "latent_dim", "width", "pretrain_epochs", "batch_size", "lr")
        keys += ("standardize", "graph_weights", "bandwidth")
        mine = self._config(n)
        theirs = pretrained._config(n) if hasattr(pretrained, "graph_hops_") else {}
        if not hasattr(pretrained, "pretrain_state_") or any(
            mine[k] != theirs.get(k) for k in keys + ("seed", "n", "graph_hops")
        ):
            raise ValueError(
                "pretrained must be a DSTC fitted on the same samples with the same "
                f"{', '.join(keys)}, random_state and graph"
            )

    def _config(self, n: int) -> dict:
        keys = ("n_clusters", "hops", "lambda_rec", "lambda_clu", "pretrain_epochs", "epochs")
        more = ("batch_size", "latent_dim", "width", "lr", "update_interval", "tol", "alpha")
        more += ("balance", "smooth_target", "graph_weights", "bandwidth", "standardize")
        config = {k: getattr(self, k) for k in keys + more}
        return config | {
            "seed": self.seed_,
            "n": n,
            "graph_hops": self.graph_hops_,
            "batch": self.batch_size_,
        }

    def _init_centroids(self, flat, powers) -> None:
        z = self._latent(flat, powers).numpy()
        km = KMeans(self.n_clusters, n_init=10, random_state=self.seed_).fit(z)
        with torch.no_grad():
            self.module_.centroids.copy_(torch.from_numpy(km.cluster_centers_.astype(np.float32)))

    @torch.no_grad()
    def _latent(self, flat, powers) -> torch.Tensor:
        self.module_.eval()
        chunks = [
            self.module_.encode(self._batch(flat, powers, np.arange(i, min(i + 4096, len(flat)))))
            for i in range(0, len(flat), 4096)
        ]
        return torch.cat(chunks)

    @torch.no_grad()
    def _target(self, flat, powers) -> tuple[torch.Tensor, torch.Tensor]:
        """DEC's target distribution for every sample, and the current assignments."""
        z = self._latent(flat, powers)
        q = soft_assignment(z, self.module_.centroids, self.alpha)
        assignments = q.argmax(1)
        if self.smooth_target and powers:  # neighbours' assignments vote: P q
            q = torch.from_numpy(np.asarray(powers[0] @ q.numpy(), dtype=np.float32))
        return target_distribution(q, self.balance), assignments

    def _predict(self, flat, powers) -> np.ndarray:
        z = self._latent(flat, powers)
        return soft_assignment(z, self.module_.centroids.detach(), self.alpha).argmax(1).numpy()

    # -- using a fitted model --

    def _prepare(self, X: Any, graph: Any) -> tuple[np.ndarray, list]:
        check_is_fitted(self, "module_")
        X = check_samples(X, n_features=self.n_features_in_)
        if X.shape[1:] != (self.n_channels_, self.n_steps_):
            raise ValueError(
                f"X: fitted on (channels, steps) {(self.n_channels_, self.n_steps_)}, got "
                f"{X.shape[1:]}"
            )
        if self.graph_hops_ and graph is None:
            raise ValueError("graph=None: this model was fitted with a graph; pass graph=")
        graph = check_graph(graph, len(X), who="DSTC") if self.graph_hops_ else None
        flat = self._scaled(X).reshape(len(X), -1)
        return flat, self._propagators(graph, self.graph_hops_, flat)

    def predict(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """Cluster of each sample: the most likely under the Student-t soft assignment.

        ``graph`` is the adjacency of these samples (required if the model was fitted with
        one)."""
        flat, powers = self._prepare(X, graph)
        with local_torch(self.seed_, self.n_threads, deterministic=False):
            return self._predict(flat, powers)

    def predict_proba(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """Soft assignment ``Q`` ``(n_samples, n_clusters)`` of each sample to each cluster."""
        flat, powers = self._prepare(X, graph)
        with local_torch(self.seed_, self.n_threads, deterministic=False):
            z = self._latent(flat, powers)
            return soft_assignment(z, self.module_.centroids.detach(), self.alpha).numpy()

    def transform(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """Latent vectors ``(n_samples, latent_dim)``."""
        flat, powers = self._prepare(X, graph)
        with local_torch(self.seed_, self.n_threads, deterministic=False):
            return self._latent(flat, powers).numpy()

    def fit_predict(
        self, X: np.ndarray, y: Any = None, *, graph: sp.sparray | None = None, **fit_params
    ) -> np.ndarray:
        """Fit on ``X`` (and ``graph``) and return the labels of ``X``."""
        return self.fit(X, y, graph=graph, **fit_params).labels_

    def layer_table(self) -> pd.DataFrame:
        """The fitted network layer by layer: part, layer, output shape (for one sample) and
        parameter count."""
        check_is_fitted(self, "module_")
        module = self.module_
        rows: list[dict] = []

        def hook(part):
            def record(layer, inputs, output):
                rows.append(
                    {
                        "part": part,
                        "layer": repr(layer).split("(")[0] + _layer_args(layer),
                        "output shape": tuple(output.shape[1:]),
                        "parameters": sum(p.numel() for p in layer.parameters()),
                    }
                )

            return record

        handles = [
            layer.register_forward_hook(hook(part))
            for part, seq in (("encoder", module.encoder), ("decoder", module.decoder))
            for layer in seq
        ] + [module.expand.register_forward_hook(hook("decoder"))]
        x = torch.zeros(1, self.n_channels_ * (self.graph_hops_ + 1), self.n_steps_)
        with torch.no_grad():
            module(x)
        for handle in handles:
            handle.remove()
        rows.append(
            {
                "part": "clustering",
                "layer": f"Student-t centroids ({self.n_clusters} x {self.latent_dim})",
                "output shape": (self.n_clusters,),
                "parameters": module.centroids.numel(),
            }
        )
        return pd.DataFrame(rows)

    @property
    def cluster_centers_(self) -> np.ndarray:
        check_is_fitted(self, "module_")
        return self.module_.centroids.detach().numpy().copy()

    def reconstruct(self, X: np.ndarray, *, graph: sp.sparray | None = None) -> np.ndarray:
        """The autoencoder's reconstruction of ``X`` (in the standardised feature space)."""
        flat, powers = self._prepare(X, graph)
        with local_torch(self.seed_, self.n_threads, deterministic=False):
            with torch.no_grad():
                return self.module_.decode(self._latent(flat, powers)).numpy()

    # -- persistence (dstc_lib.persist): tensors, arrays and plain values only --

    _STATE = ("n_channels_", "n_steps_", "n_features_in_", "graph_hops_", "seed_")
    _STATE += ("n_parameters_", "fit_seconds_", "labels_", "history_", "mean_", "scale_")
    _STATE += ("edge_scale_", "stopped_epoch_", "batch_size_")

    def _get_fitted_state(self) -> dict:
        check_is_fitted(self, "module_")
        state = {name: getattr(self, name) for name in self._STATE}
        return state | {"weights": self.module_.state_dict()}

    def _set_fitted_state(self, state: dict) -> DSTC:
        for name in self._STATE:
            setattr(self, name, state[name])
        self.module_ = SpatioTemporalAE(
            self.n_channels_,
            self.n_steps_,
            self.graph_hops_,
            self.latent_dim,
            self.width,
            self.n_clusters,
        )
        self.module_.load_state_dict(state["weights"])
        self.module_.eval()
        return self


def _layer_args(layer: nn.Module) -> str:
    if isinstance(layer, nn.Conv1d | nn.ConvTranspose1d):
        return (
            f"({layer.in_channels}->{layer.out_channels}, k={layer.kernel_size[0]}, "
            f"stride={layer.stride[0]})"
        )
    if isinstance(layer, nn.Linear):
        return f"({layer.in_features}->{layer.out_features})"
    if isinstance(layer, nn.Upsample):
        return f"(x{int(layer.scale_factor)})"
    return ""
