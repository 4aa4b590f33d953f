"""Contrastive clustering (Li et al., "Contrastive Clustering", AAAI 2021) of time series.

Two augmented views of each sample of a mini-batch (by default both made by small additive
noise and scaling: the jitter and scaling of TS2Vec, TS-TCC's weak view) go through one
backbone, the fully convolutional network of Wang et al. (2017: convolutions of ``width``,
``2 width`` and ``width`` filters with kernels 8, 5 and 3, batch normalisation,
ReLU, global average pooling over the steps) whose pooled output is the latent ``h``; then two
heads, as in the official code:

- the **instance head** (``Linear, ReLU, Linear``) projects ``h`` to ``projection_dim``; the
  NT-Xent loss over the rows pulls the two views of a sample together and pushes the other
  samples of the batch away (temperature 0.5);
- the **cluster head** (``Linear, ReLU, Linear, softmax``) maps ``h`` to a soft assignment over
  ``n_clusters``. Each *column* of the batch's assignment matrix describes one cluster; the
  same NT-Xent loss over the columns (temperature 1.0) makes a cluster's two views agree and
  the clusters differ, and an entropy term on the clusters' sizes, ``log K - H(sizes)`` per
  view, keeps every cluster in use.

The loss per step is ``instance + cluster + entropy_weight * entropy``, minimised by Adam
(learning rate 3e-4) on batches of 256 for a fixed number of optimisation ``steps`` (not
epochs: a small data set gets as many updates as a large one). A sample's cluster is the argmax
of its assignment (``assign="head"``) or k-means on the latent scaled to unit length
(``assign="kmeans"``; the losses compare latents by cosine). Inputs are plain arrays
``(n_samples, n_channels, n_steps)``; each channel is standardised with statistics stored at
``fit`` (``standardize``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm import tqdm

from ..augment import HOURS_PER_DAY, WEEK_DAY_KINDS, Context, augment, neighbour_positives
from ..augment import check_names as check_augmentations
from ..checks import check_graph, check_n_clusters, check_samples
from ..resources import check_model_size
from ..seeding import torch_threads
from .checkpoint import load_checkpoint, save_checkpoint

ASSIGNMENTS = ("head", "kmeans")
# the views of ``augmentations="auto"``: small noise and scaling on both views. TS-TCC's
# strong view (segments permuted, noise, with crop-and-resize and time warping) was the default
# before: on the development sets (benchmarks/diag_contrastive.py, BasicMotions,
# PickupGestureWiimoteZ and Trace) the head's NMI was higher on every set without it.
WEAK = ("noise", "scale")
STRONG = WEAK
TS_TCC_STRONG = ("crop_resize", "time_warp", "permutation", "noise")
# the power the assignments are raised to before their shares meet an unequal size prior
SHARPEN = 4
# Adam's learning rate in the SCAN phase (the head alone on a fixed latent: at 3e-4 it lingers
# for hundreds of steps at the uniform assignment, SCAN's saddle)
SCAN_LR = 1e-3
# how many samples (at most) the ``label_tol`` rule follows from pass to pass
LABEL_SAMPLE = 2048


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised-temperature cross entropy of paired rows: row ``i`` of ``a`` and of ``b`` are
    positives, every other row of either is a negative. Rows are L2-normalised first; the mean
    over the ``2n`` rows of ``-log softmax`` of the positive's cosine similarity / temperature.

    Examples
    --------
    >>> e = torch.eye(2)
    >>> round(float(nt_xent(e, e, 1.0)), 4)  # -log(e / (e + 2))
    0.5514
    """
    n = len(a)
    rows = F.normalize(torch.cat([a, b]), dim=1)
    logits = rows @ rows.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, positive)


def instance_loss(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Instance-level contrastive loss: NT-Xent over the rows (samples) of the two views."""
    return nt_xent(z_a, z_b, temperature)


def cluster_loss(
    p_a: torch.Tensor,
    p_b: torch.Tensor,
    temperature: float = 1.0,
    prior: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster-level loss of two views' soft assignments ``(n, K)``: NT-Xent over the *columns*
    (clusters), and the size penalty of both views.

    Without ``prior`` the penalty is Li et al.'s ``2 log K - H(p_a) - H(p_b)``, where ``H`` is
    the entropy of the clusters' shares of the batch (0 when every cluster gets the same
    share). With a ``prior`` (``K`` shares summing to one) it is the Kullback-Leibler
    divergence of each view's shares from the prior, both sorted from the largest down (the
    clusters have no fixed order); a uniform prior gives Li et al.'s term exactly. An unequal
    prior is compared with the shares of the *sharpened* assignments (each row raised to the
    power :data:`SHARPEN` and renormalised): the plain shares would equal the prior when every
    sample gets the prior itself as its assignment, a collapse that clusters nothing.

    Examples
    --------
    >>> p = torch.tensor([[1.0, 0], [1, 0], [1, 0], [0, 1]])
    >>> round(float(cluster_loss(p, p)[1]), 4)  # sizes 3/4 and 1/4 against equal sizes
    0.2616
    >>> round(float(cluster_loss(p, p, prior=torch.tensor([0.25, 0.75]))[1]), 4)
    0.0
    >>> vague = torch.tensor([[0.75, 0.25]] * 4)  # every sample gets the prior: not met
    >>> round(float(cluster_loss(vague, vague, prior=torch.tensor([0.25, 0.75]))[1]), 4)
    0.4704
    """
    contrast = nt_xent(p_a.T, p_b.T, temperature)
    return contrast, size_penalty(p_a, prior) + size_penalty(p_b, prior)


def size_penalty(p: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """How far the clusters' shares of a batch of soft assignments ``(n, K)`` are from the
    wanted sizes: ``log K - H(shares)`` without ``prior`` (or with a uniform one), else the
    Kullback-Leibler divergence of the sharpened shares from ``prior``, both sorted (see
    :func:`cluster_loss`).

    Examples
    --------
    >>> round(float(size_penalty(torch.tensor([[1.0, 0], [0, 1]]))), 4)
    0.0
    """
    k = p.shape[1]
    if prior is None or bool(torch.allclose(prior, torch.full_like(prior, 1 / k))):
        share = p.sum(dim=0) / p.sum()
        return math.log(k) + (share * torch.log(share.clamp(min=1e-12))).sum()
    sharp = p.clamp(min=1e-12) ** SHARPEN
    sharp = sharp / sharp.sum(dim=1, keepdim=True)
    share = (sharp.sum(dim=0) / len(sharp)).sort(descending=True).values
    target = prior.sort(descending=True).values
    return (share * torch.log(share.clamp(min=1e-12) / target)).sum()


def scan_loss(
    p: torch.Tensor,
    p_neighbour: torch.Tensor,
    prior: torch.Tensor | None = None,
    weight: float = 5.0,
) -> torch.Tensor:
    """SCAN's loss (Van Gansbeke et al. 2020): ``-log <p_i, p_j>`` averaged over pairs of a
    sample and one of its nearest neighbours, plus ``weight`` times the size penalty of the
    batch (:func:`size_penalty`; SCAN's entropy of the mean assignment, weight 5).

    Examples
    --------
    >>> p = torch.tensor([[1.0, 0], [0, 1]])
    >>> round(float(scan_loss(p, p)), 4)  # confident, agreeing, balanced
    0.0
    """
    agree = (p * p_neighbour).sum(dim=1).clamp(min=1e-12)
    return -torch.log(agree).mean() + weight * size_penalty(p, prior)


def contextual_loss(f_a: torch.Tensor, f_b: torch.Tensor) -> torch.Tensor:
    """TS2Vec's hierarchical contrastive loss (Yue et al. 2022) of two views' step-wise
    representations ``(n, d, steps)`` of the *same* time steps: at each step, a sample's two
    views are positives against the other samples (instance contrast) and against the sample's
    other steps (temporal contrast); then both are max-pooled by 2 along time and the loss is
    taken again, down to one step; the mean over the scales.

    Examples
    --------
    >>> f = torch.randn(4, 8, 6, generator=torch.Generator().manual_seed(0))
    >>> bool(contextual_loss(f, f) < contextual_loss(f, f.flip(0)))
    True
    """
    total, scales = torch.zeros(()), 0
    while True:
        a, b = f_a.transpose(1, 2), f_b.transpose(1, 2)  # (n, steps, d)
        if len(a) > 1:
            total = total + _contrast_rows(a.transpose(0, 1), b.transpose(0, 1))
        if a.shape[1] > 1:
            total = total + _contrast_rows(a, b)
        scales += 1
        if f_a.shape[2] <= 1:
            break
        f_a, f_b = F.max_pool1d(f_a, 2), F.max_pool1d(f_b, 2)
    return total / scales


def _contrast_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TS2Vec's contrast within each of the ``g`` groups of ``(g, m, d)``: row ``i`` of ``a`` and
    of ``b`` are positives, the other ``2m - 2`` rows of the group negatives (dot products)."""
    m = a.shape[1]
    z = torch.cat([a, b], dim=1)  # (g, 2m, d)
    sim = z @ z.transpose(1, 2)
    sim = sim.masked_fill(torch.eye(2 * m, dtype=torch.bool), float("-inf"))
    logits = -F.log_softmax(sim, dim=-1)
    i = torch.arange(m)
    return (logits[:, i, m + i].mean() + logits[:, m + i, i].mean()) / 2


def _ts2vec_crops(
    steps: int, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """TS2Vec's two overlapping random crops: the step indices ``(n, len)`` of each view per
    sample, and the length of their overlap (the last steps of the first view are the first
    steps of the second)."""

    def draw(low: int, high: int) -> int:  # an integer in [low, high)
        return int(torch.randint(low, high, (1,), generator=generator))

    overlap = draw(min(2, steps), steps + 1)
    left = draw(0, steps - overlap + 1)
    right = left + overlap
    e_left, e_right = draw(0, left + 1), draw(right, steps + 1)
    offset = torch.randint(-e_left, steps - e_right + 1, (n, 1), generator=generator)
    first = offset + torch.arange(e_left, right)[None, :]
    second = offset + torch.arange(left, e_right)[None, :]
    return first, second, overlap


BACKBONES = ("fcn", "resnet", "dilated", "mlp")
# hidden units of the "mlp" backbone's two layers (the plain reference of
# benchmarks/diag_contrastive.py)
MLP_HIDDEN = 512


def dilated_depth(length: int, kernel: int = 3) -> int:
    """Residual blocks of the ``"dilated"`` backbone for series of ``length`` steps: the fewest
    with which *every* output step sees every input step. Block ``i`` has two convolutions of
    ``kernel`` dilated by ``2**i``, padded to keep the length (centred), so ``n`` blocks see
    ``(kernel - 1) (2**n - 1)`` steps on each side (:func:`receptive_field`): the first step
    sees the last when that reaches ``length - 1``.

    Examples
    --------
    >>> dilated_depth(128), dilated_depth(121), dilated_depth(24), dilated_depth(1)
    (7, 6, 4, 1)
    >>> receptive_field(dilated_depth(121))  # 126 steps on each side of a step
    253
    """
    n = 1
    while (receptive_field(n, kernel) - 1) // 2 < length - 1:
        n += 1
    return n


def receptive_field(blocks: int, kernel: int = 3) -> int:
    """Steps one output step of ``blocks`` dilated residual blocks depends on, centred on it."""
    return 1 + 2 * (kernel - 1) * (2**blocks - 1)


class _DilatedBlock(nn.Module):
    """TS2Vec's residual block (Yue et al. 2022, ``models/dilated_conv.py`` of the official
    code): GELU, a convolution of ``kernel`` dilated by ``dilation``, GELU, a second such
    convolution, plus the input (through a 1x1 convolution when ``project``). Padding keeps the
    length (an even receptive field drops its last step, as the reference's ``SamePadConv``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, project: bool):
        super().__init__()
        field = (kernel - 1) * dilation + 1
        self.remove = 1 - field % 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=field // 2, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=field // 2, dilation=dilation)
        self.projector = nn.Conv1d(c_in, c_out, 1) if project or c_in != c_out else None

    def _same(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : x.shape[2] - self.remove]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.projector is None else self.projector(x)
        x = self._same(self.conv1(F.gelu(x)))
        x = self._same(self.conv2(F.gelu(x)))
        return x + residual


def _fcn_layers(channels: int, width: int) -> list[nn.Module]:
    """Wang et al.'s three convolutions (kernels 8, 5, 3; ``width``, ``2 width``, ``width``
    filters), each with batch normalisation and ReLU."""
    layers, c_in = [], channels
    for c_out, kernel in ((width, 8), (2 * width, 5), (width, 3)):
        layers += [
            nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2),
            nn.BatchNorm1d(c_out),
            nn.ReLU(),
        ]
        c_in = c_out
    return layers


class _SameConv1d(nn.Conv1d):
    """A convolution whose output has the input's length, padded with zeros ``(kernel - 1) // 2``
    steps on the left and the rest on the right: exactly what ``padding="same"`` computes, without
    the warning torch gives on every fit for an even kernel."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__(c_in, c_out, kernel)
        left = (kernel - 1) // 2
        self.pad = (left, kernel - 1 - left)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pad))


class _ResidualBlock(nn.Module):
    """One block of Wang et al.'s ResNet (2017, ``resnet.py`` of Fawaz et al.'s reference
    code): three convolutions of kernels 8, 5 and 3, each with batch normalisation (ReLU after
    the first two), plus the input through a 1x1 convolution and batch normalisation (the
    reference expands the channels so; it keeps only the normalisation when they are equal),
    then ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        layers: list[nn.Module] = []
        c = c_in
        for i, kernel in enumerate((8, 5, 3)):
            layers += [_SameConv1d(c, c_out, kernel), nn.BatchNorm1d(c_out)]
            if i < 2:
                layers.append(nn.ReLU())
            c = c_out
        self.body = nn.Sequential(*layers)
        shortcut: list[nn.Module] = [] if c_in == c_out else [nn.Conv1d(c_in, c_out, 1)]
        self.shortcut = nn.Sequential(*shortcut, nn.BatchNorm1d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _resnet_layers(channels: int, width: int) -> list[nn.Module]:
    """Wang et al.'s ResNet at ``width``: three residual blocks of ``width / 2``, ``width`` and
    ``width`` filters (the reference's 64, 128, 128 for a latent of 128)."""
    half = max(width // 2, 1)
    return [
        _ResidualBlock(channels, half),
        _ResidualBlock(half, width),
        _ResidualBlock(width, width),
    ]


def _dilated_layers(channels: int, width: int, length: int) -> list[nn.Module]:
    """TS2Vec's encoder at ``width`` units: a linear map of each step's channels (a 1x1
    convolution), then :func:`dilated_depth` residual blocks of kernel 3 dilated by 1, 2, 4,
    ..., the last one with a projected residual (TS2Vec's ``final`` block)."""
    depth = dilated_depth(length)
    layers: list[nn.Module] = [nn.Conv1d(channels, width, 1)]
    layers += [_DilatedBlock(width, width, 3, 2**i, project=i == depth - 1) for i in range(depth)]
    return layers


class _Network(nn.Module):
    """A backbone (the FCN of Wang et al. 2017, TS2Vec's dilated convolutions, or an MLP) and
    the two heads of Li et al. (2021)."""

    def __init__(
        self,
        channels: int,
        width: int,
        k: int,
        proj: int,
        pool: int = 1,
        segments: int = 1,
        hidden: int | None = None,
        backbone: str = "fcn",
        length: int | None = None,
    ):
        super().__init__()
        hidden = width if hidden is None else hidden
        layers: list[nn.Module] = []
        if pool > 1:  # average of ``pool`` consecutive steps (long series, see max_length)
            layers.append(nn.AvgPool1d(pool, ceil_mode=True))
        stem = len(layers)
        if backbone == "mlp":  # the (pooled) series flattened: no step-wise features
            if length is None:
                raise ValueError("the mlp backbone needs the series' length")
            pooled = -(-length // pool)
            layers += [
                nn.Flatten(),
                nn.Linear(channels * pooled, MLP_HIDDEN),
                nn.ReLU(),
                nn.Linear(MLP_HIDDEN, MLP_HIDDEN),
                nn.ReLU(),
                nn.Linear(MLP_HIDDEN, width),
            ]
            head: list[nn.Module] = []
        else:
            if backbone == "fcn":
                layers += _fcn_layers(channels, width)
                reduce = nn.AdaptiveAvgPool1d  # Wang et al.'s global average pooling
            elif backbone == "resnet":
                layers += _resnet_layers(channels, width)
                reduce = nn.AdaptiveAvgPool1d
            elif backbone == "dilated":
                if length is None:
                    raise ValueError("the dilated backbone needs the series' length")
                layers += _dilated_layers(channels, width, -(-length // pool))
                reduce = nn.AdaptiveMaxPool1d  # TS2Vec's instance representation: max over time
            else:
                raise ValueError(f"backbone={backbone!r}; choose one of {BACKBONES}")
            if segments == 1:  # pooled over all steps: the latent ignores where a pattern is
                head = [reduce(1), nn.Flatten()]
            else:  # pooled over ``segments`` parts of the series, kept in order: where matters
                head = [
                    reduce(segments),
                    nn.Flatten(),
                    nn.Linear(width * segments, width),
                    nn.ReLU(),
                ]
        self.backbone = nn.Sequential(*layers, *head)
        self._parts = (stem, len(layers), len(layers) + len(head))
        self.instance_head = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, proj)
        )
        self.cluster_head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, k))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.heads(self.backbone(x))

    def heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The latent, its instance projection and its soft assignment."""
        return h, self.instance_head(h), torch.softmax(self.cluster_head(h), dim=1)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The input at the backbone's resolution (the average over ``pool`` steps)."""
        return self.backbone[: self._parts[0]](x)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolution's output at each step ``(n, width, steps)`` of a stemmed input."""
        return self.backbone[self._parts[0] : self._parts[1]](x)

    def readout(self, f: torch.Tensor) -> torch.Tensor:
        """The latent of step-wise features (pooled globally or over ordered segments)."""
        return self.backbone[self._parts[1] : self._parts[2]](f)


class ContrastiveClustering(ClusterMixin, TransformerMixin, BaseEstimator):
    """Contrastive clustering of ``(n_samples, n_channels, n_steps)`` arrays.

    Parameters
    ----------
    n_clusters : int
        Number of clusters (columns of the cluster head).
    augmentations : "auto", list of str or dict
        How the two views are made, with names from :data:`dstc_lib.augment.AUGMENTATIONS`.
        ``"auto"``: both views by ``noise`` and ``scale`` (:data:`WEAK`), plus
        ``neighbour_mix`` on both when ``fit`` gets a ``graph``; TS-TCC's strong view
        (:data:`TS_TCC_STRONG`: ``crop_resize``, ``time_warp``, ``permutation``, ``noise``)
        is ``{"weak": WEAK, "strong": TS_TCC_STRONG}``. A list: both views made alike. A
        dict ``{"weak": [...], "strong": [...]}``: one list per view.
    strengths : dict or None
        Strength per augmentation name (others keep their defaults).
    augment_probability : float
        Share of a batch's samples each augmentation is applied to.
    steps : int
        Optimisation steps (batches) of the training, whatever the size of the data.
    batch_size, lr, weight_decay
        Adam on batches drawn by passes over the shuffled samples (a pass of ``n`` samples has
        ``max(1, n // batch_size)`` batches; Li et al.: 256, 3e-4, 0).
    tol, n_iter_no_change : float or None, int
        Stop before ``steps`` once a pass's mean loss has not fallen below the best so far by
        more than ``tol`` for ``n_iter_no_change`` passes in a row (``converged_`` then says
        so); ``tol=None`` trains all ``steps``.
    label_tol : float or None
        An unsupervised stop judged on the clusters rather than the loss (the ``tol`` rule of
        DSTC and DEC): after each pass the cluster head labels a fixed random subsample of up
        to :data:`LABEL_SAMPLE` samples, and the training stops before ``steps`` once the share
        of them that changed cluster since the previous pass has stayed below ``label_tol``,
        with every cluster in use, for ``n_iter_no_change`` passes in a row (``converged_``
        then says so; the shares are in ``history_["changed"]``). The untrained head puts every
        sample in one cluster and keeps it there for a while: a pass with an empty cluster
        never counts. None: no such stop.
    temperature_instance, temperature_cluster : float
        NT-Xent temperatures (Li et al.: 0.5 and 1.0).
    entropy_weight : float
        Weight of the cluster-size penalty (Li et al.: 1).
    size_prior : "uniform", "kmeans" or sequence of float
        The cluster sizes the penalty pulls towards: ``"uniform"`` (Li et al.'s entropy term,
        equal sizes), ``"kmeans"`` (the sizes of a k-means on the standardised input, for
        data whose groups are unequal) or ``n_clusters`` shares (see :func:`cluster_loss`).
    backbone : {"fcn", "resnet", "dilated", "mlp"}
        The encoder whose pooled output is the latent. ``"fcn"``: Wang et al.'s three
        convolutions (kernels 8, 5, 3, batch normalisation, ReLU) and global average pooling;
        one output step sees 14 input steps, so the latent is a bag of local patterns.
        ``"resnet"``: Wang et al.'s ResNet, three residual blocks of those three convolutions
        (``width / 2``, ``width``, ``width`` filters; one output step sees 40 input steps)
        and global average pooling.
        ``"dilated"``: TS2Vec's encoder (Yue et al. 2022): a 1x1 convolution to ``width``
        units, then residual blocks of two GELU + kernel-3 convolutions dilated by 1, 2, 4,
        ..., as many blocks as it takes for every output step to see the whole (pooled)
        series (:func:`dilated_depth`: 6 blocks for 64 to 127 steps, 7 for 128), and max
        pooling over the steps.
        ``"mlp"``: the (pooled) series flattened, two ReLU layers of :data:`MLP_HIDDEN` units
        and a linear layer to ``width`` (no step-wise features: neither ``contextual`` nor
        ``segments``).
    width : int
        Size of the latent, and the backbone's width: the filters of the FCN's first and last
        convolution (the middle one has twice as many; Wang et al. use 128), the units of every
        dilated block (TS2Vec: 64).
    projection_dim : int
        Size of the instance projection (Li et al.: 128).
    head_width : int or None
        Hidden units of both heads (``Linear, ReLU, Linear``); None: ``width``, as in Li et
        al.'s code, where the heads' hidden layer is as wide as the latent.
    max_length : int or None
        Series longer than this are averaged over ``ceil(n_steps / max_length)`` consecutive
        steps before the backbone (a 168-hour week becomes 84 two-hour steps): the cost of a
        step grows with the length, and the FCN's kernels see more of a long series. None
        keeps every step.
    segments : int
        1: global average pooling (Wang et al.), the latent does not know *when* a pattern
        occurs; more: the last convolution's output averaged over that many consecutive parts
        of the series, in order, then a linear layer to ``width`` (the hour of the week
        matters for traffic).
    assign : {"head", "kmeans"}
        Argmax of the cluster head, or k-means on the latent.
    standardize : bool
        Standardise each channel (mean and standard deviation over the samples and steps of
        the training data, applied again in ``predict`` and ``transform``).
    random_state : int, numpy.random.RandomState or None
        Seeds the weights, the batches and the augmentations: two fits with the same int give
        the same model; None draws fresh randomness.
    contextual : bool
        Add TS2Vec's contextual consistency (Yue et al. 2022, :func:`contextual_loss`): each
        view is also cut to one of two overlapping random crops (TS2Vec's cropping), the
        backbone's step-wise features of the overlapping steps are contrasted across samples
        and across time, and the latents and heads see the crops.
    spatial_positives : float
        With a ``graph`` at ``fit``: the probability that a sample's second view is made from
        one of its grid neighbours (drawn at random) instead of from the sample itself, so
        that neighbouring tiles are positive pairs for the instance and the cluster losses
        (the poster's spatial positives; :func:`dstc_lib.augment.neighbour_positives`). 0,
        or no graph: both views come from the sample.
    scan_steps : int
        After the contrastive training, this many steps of SCAN (Van Gansbeke et al. 2020,
        :func:`scan_loss`) that fine-tune the cluster head alone on the fixed latent: each
        sample's assignment is pulled towards those of its ``scan_neighbours`` nearest
        neighbours in the latent (cosine), with ``scan_weight`` times the size penalty (the
        same ``size_prior``), by Adam at :data:`SCAN_LR` on batches of ``batch_size``; a step
        costs only the head's forward pass. 0: no SCAN phase (Li et al.).
    scan_neighbours : int
        Nearest neighbours per sample in the SCAN phase.
    scan_weight : float
        Weight of the size penalty in the SCAN phase (SCAN: 5).
    snapshot_steps : sequence of int
        Training steps (0 = before training) at which the latent of every sample and its
        cluster are kept in ``history_["snapshots"]`` (for the t-SNE figure).
    checkpoint : str, Path or None
        A file the training state is saved to after each pass; a fit that finds one written
        for the same settings and data shape resumes from it.
    n_threads : int or None
        torch threads while fitting and predicting (restored afterwards); None keeps torch's.
    progress : bool
        Show a tqdm bar over the steps.

    Attributes
    ----------
    labels_ : numpy.ndarray
        Cluster of each training sample.
    history_ : dict
        ``"loss"``, ``"instance"``, ``"cluster"``, ``"entropy"``: one value per step;
        ``"contextual"``: one value per step with ``contextual``; ``"scan"``: one value per
        SCAN step; ``"changed"``: with ``label_tol``, the share of the followed samples whose
        cluster changed in each pass (NaN for the first);
        ``"snapshots"``: {step: {"latent", "labels"}}.
    augmentations_ : dict
        The names used for the ``"weak"`` and the ``"strong"`` view.
    size_prior_ : numpy.ndarray or None
        The cluster shares the size penalty pulls towards (None: uniform).
    mean_, scale_ : numpy.ndarray
        ``(n_channels, 1)`` standardisation of the inputs.
    network_ : torch.nn.Module
        The trained backbone and heads.
    n_steps_, n_epochs_ : int
        Steps trained, and passes over the data begun.
    converged_ : bool
        The ``tol`` or the ``label_tol`` rule stopped the training (at step ``n_steps_``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 2 * np.pi, 32)
    >>> X = np.concatenate([np.sin(t) + rng.normal(0, 0.2, (20, 1, 32)),
    ...                     np.sign(np.sin(3 * t)) + rng.normal(0, 0.2, (20, 1, 32))])
    >>> model = ContrastiveClustering(2, steps=60, width=8, random_state=0).fit(X)
    >>> model.labels_.shape, model.transform(X).shape, model.n_steps_
    ((40,), (40, 8), 60)
    """

    def __init__(
        self,
        n_clusters: int = 9,
        augmentations: Sequence[str] | dict | str = "auto",
        strengths: dict[str, float] | None = None,
        augment_probability: float = 0.5,
        steps: int = 1000,
        batch_size: int = 256,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        tol: float | None = None,
        n_iter_no_change: int = 10,
        label_tol: float | None = None,
        temperature_instance: float = 0.5,
        temperature_cluster: float = 1.0,
        entropy_weight: float = 1.0,
        size_prior: str | Sequence[float] = "uniform",
        backbone: str = "fcn",
        width: int = 32,
        projection_dim: int = 128,
        head_width: int | None = None,
        max_length: int | None = 128,
        segments: int = 1,
        assign: str = "head",
        standardize: bool = True,
        contextual: bool = False,
        spatial_positives: float = 0.0,
        scan_steps: int = 0,
        scan_neighbours: int = 5,
        scan_weight: float = 5.0,
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
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.label_tol = label_tol
        self.temperature_instance = temperature_instance
        self.temperature_cluster = temperature_cluster
        self.entropy_weight = entropy_weight
        self.size_prior = size_prior
        self.backbone = backbone
        self.width = width
        self.projection_dim = projection_dim
        self.head_width = head_width
        self.max_length = max_length
        self.segments = segments
        self.assign = assign
        self.standardize = standardize
        self.contextual = contextual
        self.spatial_positives = spatial_positives
        self.scan_steps = scan_steps
        self.scan_neighbours = scan_neighbours
        self.scan_weight = scan_weight
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
        for name in ("label_tol", "spatial_positives"):
            value = getattr(self, name)
            if value is None and name == "label_tol":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name}={value!r}: must be a number between 0 and 1")
        stops = self.tol is not None or self.label_tol is not None
        if stops and self.n_iter_no_change < 1:
            raise ValueError(f"n_iter_no_change={self.n_iter_no_change}: at least 1 pass")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps={self.steps!r}: must be an integer >= 0")
        if (
            isinstance(self.segments, bool)
            or not isinstance(self.segments, int)
            or self.segments < 1
        ):
            raise ValueError(f"segments={self.segments!r}: must be an integer >= 1")
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone={self.backbone!r}; choose one of {BACKBONES}")
        if self.backbone == "mlp" and (self.contextual or self.segments != 1):
            raise ValueError("backbone='mlp' has no step-wise features: contextual and segments")
        if self.max_length is not None and not (
            isinstance(self.max_length, int) and self.max_length >= 1
        ):
            raise ValueError(f"max_length={self.max_length!r}: None or an integer >= 1")
        for name in ("scan_steps", "scan_neighbours"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r}: must be an integer >= 0")
        if self.scan_steps and not 1 <= self.scan_neighbours < n:
            raise ValueError(f"scan_neighbours={self.scan_neighbours}: between 1 and n - 1")
        names = self._augmentation_names(X, graph)
        prior = self._check_size_prior()

        def build() -> _Network:
            return self._network(*X.shape[1:])

        check_model_size(  # on torch's meta device: a huge width is refused, not allocated
            build,
            f"contrastive clustering with width={self.width}, projection_dim={self.projection_dim}",
            "lower width (default 32) or projection_dim (default 128)",
        )
        mean, scale = _standard_stats(X, self.standardize)
        X = ((X - mean) / scale).astype(np.float32)
        context = Context(data=torch.from_numpy(X), neighbours=graph)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if isinstance(prior, str):  # "kmeans": the shares of a k-means on the input
            found = KMeans(self.n_clusters, n_init=3, random_state=seed).fit_predict(
                X.reshape(n, -1)
            )
            prior = np.maximum(np.bincount(found, minlength=self.n_clusters), 1) / n
            prior = prior / prior.sum()
        self.size_prior_ = prior
        prior_t = None if prior is None else torch.as_tensor(prior, dtype=torch.float32)
        self.input_shape_ = X.shape[1:]
        self.mean_, self.scale_ = mean, scale
        self.augmentations_ = names
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build()
        optimiser = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        history = {"loss": [], "instance": [], "cluster": [], "entropy": [], "snapshots": {}}
        history["contextual"], history["changed"] = [], []
        epoch, step = 0, 0
        # the tol and label_tol rules' state
        stop = {"best": math.inf, "stale": 0, "converged": False, "labels": None, "calm": 0}
        tag = self._checkpoint_tag(X.shape, names)
        if self.checkpoint is not None and Path(self.checkpoint).is_file():
            state = load_checkpoint(self.checkpoint)
            if state.get("tag") == tag and state["step"] <= self.steps:
                net.load_state_dict(state["model"])
                optimiser.load_state_dict(state["optimiser"])
                generator.set_state(state["generator"])
                epoch, step = state["epoch"], state["step"]
                history = _history_from_state(state["history"])
                stop = {**stop, **state.get("stop", {})}
                history.setdefault("changed", [])
        self.network_ = net
        wanted = set(int(s) for s in self.snapshot_steps)
        if 0 in wanted and step == 0:
            history["snapshots"][0] = self._snapshot(X)
        n_batches = max(1, n // self.batch_size)
        bar = tqdm(
            total=self.steps,
            initial=step,
            desc="contrastive clustering",
            disable=not self.progress,
        )
        data = context.data
        spatial = graph is not None and self.spatial_positives > 0
        if self.label_tol is not None:  # the samples the label_tol rule follows (numpy's draw)
            size = min(n, LABEL_SAMPLE)
            follow = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        while step < self.steps and not stop["converged"]:
            first = step
            order = torch.randperm(n, generator=generator)
            net.train()
            for index in torch.tensor_split(order, n_batches):
                if step >= self.steps:
                    break
                context.index = index
                batch = data[index]
                view_a = augment(batch, names["weak"], **self._augment_kw(generator, context))
                if spatial:  # the second view from a grid neighbour (spatial_positives)
                    context.index = neighbour_positives(
                        index, self.spatial_positives, generator=generator, context=context
                    )
                    batch = data[context.index]
                view_b = augment(batch, names["strong"], **self._augment_kw(generator, context))
                if self.contextual:
                    (_, z_a, p_a), (_, z_b, p_b), context_loss = self._contextual(
                        net, view_a, view_b, generator
                    )
                else:
                    (_, z_a, p_a), (_, z_b, p_b) = net(view_a), net(view_b)
                inst = instance_loss(z_a, z_b, self.temperature_instance)
                clus, ent = cluster_loss(p_a, p_b, self.temperature_cluster, prior_t)
                loss = inst + clus + self.entropy_weight * ent
                if self.contextual:
                    loss = loss + context_loss
                    history["contextual"].append(float(context_loss.detach()))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                step += 1
                bar.update(1)
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
            epoch += 1
            if self.tol is not None:
                self._update_stop(stop, float(np.mean(history["loss"][first:])))
            if self.label_tol is not None:
                history["changed"].append(self._update_label_stop(stop, X[follow]))
            if self.checkpoint is not None:
                save_checkpoint(
                    self.checkpoint,
                    {
                        "tag": tag,
                        "epoch": epoch,
                        "step": step,
                        "model": net.state_dict(),
                        "optimiser": optimiser.state_dict(),
                        "generator": generator.get_state(),
                        "history": _history_to_state(history),
                        "stop": stop,
                    },
                )
        bar.close()
        net.eval()
        history["scan"] = self._scan(X, prior_t, generator) if self.scan_steps else []
        self.history_ = history
        self.n_steps_ = step
        self.n_epochs_ = epoch
        self.converged_ = bool(stop["converged"])
        latent, prob = self._forward_standardised(X)
        if self.assign == "kmeans":
            self.kmeans_ = KMeans(self.n_clusters, n_init=10, random_state=seed)
            self.labels_ = self.kmeans_.fit_predict(unit_rows(latent)).astype(np.int64)
        else:
            self.labels_ = prob.argmax(axis=1).astype(np.int64)
        return self

    @staticmethod
    def _contextual(
        net: _Network, view_a: torch.Tensor, view_b: torch.Tensor, generator: torch.Generator
    ) -> tuple[tuple, tuple, torch.Tensor]:
        """Both views cut to TS2Vec's overlapping crops: their heads' outputs and the
        contextual loss of the overlapping steps."""
        s_a, s_b = net.stem(view_a), net.stem(view_b)
        first, second, overlap = _ts2vec_crops(s_a.shape[2], len(s_a), generator)

        def crop(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            index = index.clamp(0, x.shape[2] - 1)[:, None, :].expand(-1, x.shape[1], -1)
            return torch.gather(x, 2, index)

        f_a, f_b = net.steps(crop(s_a, first)), net.steps(crop(s_b, second))
        loss = contextual_loss(f_a[:, :, -overlap:], f_b[:, :, :overlap])
        return net.heads(net.readout(f_a)), net.heads(net.readout(f_b)), loss

    def _scan(
        self, X: np.ndarray, prior: torch.Tensor | None, generator: torch.Generator
    ) -> list[float]:
        """The SCAN phase: fine-tune the cluster head on the fixed latent (see ``scan_steps``)."""
        from sklearn.neighbors import NearestNeighbors

        net = self.network_
        latent = self._forward_standardised(X)[0]
        unit = unit_rows(latent)
        k = self.scan_neighbours
        found = NearestNeighbors(n_neighbors=k + 1).fit(unit).kneighbors(unit)[1]
        neighbours = torch.from_numpy(
            np.stack([row[row != i][:k] for i, row in enumerate(found)]).astype(np.int64)
        )
        h = torch.from_numpy(latent)
        head = net.cluster_head
        optimiser = torch.optim.Adam(head.parameters(), lr=SCAN_LR)
        n, losses = len(h), []
        size = min(self.batch_size, n)
        for _ in range(self.scan_steps):
            index = torch.randperm(n, generator=generator)[:size]
            pick = torch.randint(0, k, (size,), generator=generator)
            p = torch.softmax(head(h[index]), dim=1)
            p_j = torch.softmax(head(h[neighbours[index, pick]]), dim=1)
            loss = scan_loss(p, p_j, prior, self.scan_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        return losses

    def _update_stop(self, stop: dict, epoch_loss: float) -> None:
        """The ``tol`` rule: count passes without an improvement of more than ``tol``."""
        if epoch_loss < stop["best"] - self.tol:
            stop["stale"] = 0
        else:
            stop["stale"] += 1
        stop["best"] = min(stop["best"], epoch_loss)
        stop["converged"] = stop["stale"] >= self.n_iter_no_change

    def _update_label_stop(self, stop: dict, sample: np.ndarray) -> float:
        """The ``label_tol`` rule: the share of ``sample`` (standardised) whose head cluster
        changed since the previous pass (NaN at the first); count the passes in a row below
        ``label_tol``. The labels are kept as a tensor: checkpoints hold tensors only."""
        labels = torch.from_numpy(self._forward_standardised(sample)[1].argmax(axis=1))
        previous, stop["labels"] = stop["labels"], labels
        if previous is None:
            return math.nan
        changed = float((labels != previous).float().mean())
        # a head that leaves a cluster empty has not settled: at initialisation it puts every
        # sample in one cluster, and no pass changes that until the clusters form
        formed = len(torch.unique(labels)) == min(self.n_clusters, len(labels))
        stop["calm"] = stop["calm"] + 1 if changed < self.label_tol and formed else 0
        stop["converged"] = stop["converged"] or stop["calm"] >= self.n_iter_no_change
        return changed

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
        """The latent ``h`` of each sample, ``float32 (n_samples, width)`` (``graph`` is
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
            for chunk in torch.split(torch.from_numpy(X), 1024):
                h, _, p = self.network_(chunk)
                latents.append(h)
                probs.append(p)
        return torch.cat(latents).numpy(), torch.cat(probs).numpy()

    def _snapshot(self, X: np.ndarray) -> dict[str, np.ndarray]:
        latent, prob = self._forward_standardised(X)
        return {"latent": latent, "labels": prob.argmax(axis=1)}

    def _network(self, channels: int, steps: int) -> _Network:
        """The untrained network for inputs of ``channels x steps`` (fit and load share it)."""
        return _Network(
            channels,
            self.width,
            self.n_clusters,
            self.projection_dim,
            pool=_pool_factor(steps, self.max_length),
            segments=self.segments,
            hidden=self.head_width,
            backbone=self.backbone,
            length=steps,
        )

    # --- persistence (dstc_lib.persist): tensors, arrays and plain values only ----------------

    _STATE = ("size_prior_", "input_shape_", "mean_", "scale_", "augmentations_", "history_")
    _STATE += ("n_steps_", "n_epochs_", "converged_", "labels_")

    def _get_fitted_state(self) -> dict:
        check_is_fitted(self, "network_")
        state = {name: getattr(self, name) for name in self._STATE}
        if self.assign == "kmeans":
            state["kmeans_"] = self.kmeans_
        return state | {"weights": self.network_.state_dict()}

    def _set_fitted_state(self, state: dict) -> ContrastiveClustering:
        for name in self._STATE:
            setattr(self, name, state[name])
        self.input_shape_ = tuple(int(v) for v in self.input_shape_)
        if "kmeans_" in state:
            self.kmeans_ = state["kmeans_"]
        self.network_ = self._network(*self.input_shape_)
        self.network_.load_state_dict(state["weights"])
        self.network_.eval()
        return self

    # --- checks -------------------------------------------------------------------------------

    def _augmentation_names(
        self, X: np.ndarray, graph: sp.csr_array | None
    ) -> dict[str, list[str]]:
        spec = self.augmentations
        if isinstance(spec, str):
            if spec != "auto":
                raise ValueError(f"augmentations={spec!r}: 'auto', a list or a dict")
            extra = ["neighbour_mix"] if graph is not None else []
            return {"weak": [*WEAK, *extra], "strong": [*STRONG, *extra]}
        if isinstance(spec, dict):
            if set(spec) != {"weak", "strong"}:
                raise ValueError("augmentations: a dict needs the keys 'weak' and 'strong'")
            views = {key: check_augmentations(spec[key]) for key in ("weak", "strong")}
        else:
            names = check_augmentations(spec)
            views = {"weak": names, "strong": list(names)}
        used = views["weak"] + views["strong"]
        if "neighbour_mix" in used and graph is None:
            raise ValueError("augmentations: neighbour_mix needs the tiles' graph (fit graph=)")
        week = len(WEEK_DAY_KINDS) * HOURS_PER_DAY
        if "day_resample" in used and X.shape[2] != week:
            raise ValueError(f"augmentations: day_resample needs {week}-step weeks")
        return views

    def _check_size_prior(self) -> np.ndarray | str | None:
        """None (uniform), "kmeans", or the given shares normalised to sum to one."""
        prior = self.size_prior
        if isinstance(prior, str):
            if prior not in ("uniform", "kmeans"):
                raise ValueError(f"size_prior={prior!r}: 'uniform', 'kmeans' or shares")
            return None if prior == "uniform" else prior
        shares = np.asarray(prior, dtype=np.float64)
        if shares.shape != (self.n_clusters,) or not (shares > 0).all():
            raise ValueError(f"size_prior: {self.n_clusters} positive shares expected")
        return shares / shares.sum()

    def _augment_kw(self, generator: torch.Generator, context: Context) -> dict:
        return {
            "strengths": self.strengths,
            "probability": self.augment_probability,
            "generator": generator,
            "context": context,
        }

    def _checkpoint_tag(self, shape: tuple, names: dict) -> str:
        skip = ("steps", "progress", "checkpoint", "snapshot_steps", "n_threads")
        params = {k: v for k, v in self.get_params().items() if k not in skip}
        return repr((tuple(shape), names, sorted(params.items(), key=lambda kv: kv[0])))


def _pool_factor(steps: int, max_length: int | None) -> int:
    """How many consecutive steps the backbone averages: ``ceil(steps / max_length)``."""
    if max_length is None:
        return 1
    return max(1, -(-steps // int(max_length)))


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


def uses_graph(augmentations: Sequence[str] | dict | str) -> bool:
    """Whether a fit with these ``augmentations`` needs (``neighbour_mix``) or uses (``"auto"``)
    the tile graph.

    Examples
    --------
    >>> uses_graph("auto"), uses_graph(["jitter"])
    (True, False)
    >>> uses_graph({"weak": ["noise"], "strong": ["neighbour_mix"]})
    True
    """
    if isinstance(augmentations, str):
        return augmentations == "auto"
    if isinstance(augmentations, dict):
        return any("neighbour_mix" in names for names in augmentations.values())
    return "neighbour_mix" in augmentations
