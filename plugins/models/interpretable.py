"""Zhang, Wu and Zhu, "Interpretable Convolutional Neural Networks" (CVPR 2018): templates, the
interpretable-filter mask, and the filter loss. Plus a frequency-band variant for spectrograms.

Templates on an ``n x n`` map: ``T_mu(i, j) = tau * max(1 - beta * ||(i, j) - mu||_1 / n, -1)`` for each
of the ``n^2`` positions ``mu``, and the negative template ``T- = -tau`` everywhere; ``tau = 0.5 / n^2``,
``beta = 4``, priors ``p(T_mu) = alpha / n^2``, ``p(T-) = 1 - alpha``, ``alpha = n^2 / (1 + n^2)``.

The *frequency-band* variant keeps only the frequency axis (rows): ``T_m(i, j) = tau * max(1 - beta *
|i - m| / n, -1)`` for each of the ``n`` rows ``m``, constant over time, with ``alpha = n / (1 + n)``:
a filter may fire at any time but should fire in one band.

Decisions the paper leaves open (see docs/models.md):

- ``X`` in ``Z_T = sum_x exp(tr(x . T))`` is the mini-batch (the paper's X is the training set).
- ``p(x | T)`` depends on the scale of ``x``, which batch norm and ReLU leave arbitrary. The loss sees
  each filter's maps rescaled to a batch-mean activation of ``ACTIVATION_SCALE`` per cell (denominator
  detached), so it cannot be gamed by scaling. At 1 the loss is nearly flat (MI < 0.01 nats on random
  maps; gradient descent barely concentrates them), at 64 it saturates; at 16 a map whose mass sits in
  one cell scores up to 8 nats against its template (measured in tests/test_filter_loss.py).
- Categories: filters are assigned to genres round-robin at construction (filter k -> genre k mod C),
  so every genre, including the thin ones, owns filters. Windows of other genres should fit ``T-``:
  besides ``-MI``, the loss has a cross-entropy term on whether ``x`` is better explained by ``T-`` than
  by the positive templates (1 for other genres, 0 for the filter's own). That term weighs ``T-`` and
  ``T+`` equally: under the paper's prior ``p(T-) = 1 / (1 + n^2)`` the posterior ``p(T- | x)`` stays
  below a few percent for every map, so a term on it could never be satisfied (measured: 0.02-0.07
  after 200 steps on 8 x 8 maps).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BETA = 4.0
ACTIVATION_SCALE = 16.0


def positive_templates(n: int, variant: str = "2d", beta: float = BETA,
                       dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The positive templates divided by tau, ``(P, n, n)``: ``P = n^2`` (2d) or ``n`` (freq)."""
    idx = torch.arange(n, dtype=dtype)
    if variant == "2d":
        di = (idx[:, None, None, None] - idx[None, None, :, None]).abs()  # (mu_i, 1, i, 1)
        dj = (idx[None, :, None, None] - idx[None, None, None, :]).abs()  # (1, mu_j, 1, j)
        dist = (di + dj).reshape(n * n, n, n)
    elif variant == "freq":
        dist = (idx[:, None, None] - idx[None, :, None]).abs().expand(n, n, n)
    else:
        raise ValueError(f"unknown template variant '{variant}' (2d or freq)")
    return torch.clamp(1.0 - beta * dist / n, min=-1.0)


class TemplateBank(nn.Module):
    """All templates of one map size as a matrix, with their priors."""

    def __init__(self, n: int, variant: str = "2d", beta: float = BETA, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.n, self.variant = n, variant
        positive = positive_templates(n, variant, beta, dtype)
        count = positive.shape[0]
        self.tau = 0.5 / (n * n)
        alpha = count / (1.0 + count)
        matrix = torch.cat([positive.reshape(count, -1), -torch.ones(1, n * n, dtype=dtype)]) * self.tau  # T- last
        priors = torch.cat([torch.full((count,), alpha / count, dtype=dtype), torch.tensor([1.0 - alpha], dtype=dtype)])
        self.register_buffer("matrix", matrix)
        self.register_buffer("log_priors", priors.log())
        self.register_buffer("masks", positive)  # forward-pass masks (unscaled by tau)

    def mask_for(self, maps: torch.Tensor) -> torch.Tensor:
        """The template at each map's argmax: ``(B, M, n, n)`` -> masks ``(B, M, n, n)``."""
        # 2-D templates: the cell of the maximum; frequency templates: the row (band) where the filter is strongest
        position = maps.flatten(2).argmax(dim=2) if self.variant == "2d" else maps.amax(dim=3).argmax(dim=2)
        return self.masks[position]


class InterpretableMask(nn.Module):
    """Zhang's masked output: ``max(x * T_mu, 0)`` with ``mu = argmax x``, per filter and window."""

    def __init__(self, bank: TemplateBank) -> None:
        super().__init__()
        self.bank = bank

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mask = self.bank.mask_for(maps)
        return F.relu(maps * mask)


def log_likelihoods(maps: torch.Tensor, bank: TemplateBank) -> torch.Tensor:
    """``log p(x | T)`` for every filter, window and template: ``(B, M, n, n)`` -> ``(M, B, K)``.

    ``p(x | T) = exp(tr(x . T)) / Z_T`` with ``Z_T`` summed over the windows of the batch.
    """
    scale = maps.mean(dim=(0, 2, 3), keepdim=True).detach().clamp_min(1e-6) / ACTIVATION_SCALE
    flat = (maps / scale).flatten(2).transpose(0, 1)  # (M, B, n*n)
    scores = flat @ bank.matrix.T  # (M, B, K): tr(x . T)
    return scores - torch.logsumexp(scores, dim=1, keepdim=True)


def mutual_information(log_px_t: torch.Tensor, log_priors: torch.Tensor) -> torch.Tensor:
    """``MI(X; T)`` per filter ``(M,)`` from ``log p(x|T)`` ``(M, B, K)`` and ``log p(T)`` ``(K,)``."""
    log_joint = log_priors + log_px_t  # log p(T) p(x|T)
    log_px = torch.logsumexp(log_joint, dim=2, keepdim=True)  # log p(x)
    return (log_joint.exp() * (log_px_t - log_px)).sum(dim=(1, 2))


def filter_loss(maps: torch.Tensor, labels: torch.Tensor, filter_classes: torch.Tensor,
                bank: TemplateBank) -> torch.Tensor:
    """Mean over filters of ``-MI(X; T)`` plus the category term on ``p(T- | x)``."""
    log_px_t = log_likelihoods(maps, bank)
    mi = mutual_information(log_px_t, bank.log_priors)
    positives = log_px_t.shape[2] - 1
    # log-odds of T- against the positive templates under equal priors for T- and T+ (see module docs)
    negative_logit = log_px_t[..., -1] - (torch.logsumexp(log_px_t[..., :-1], dim=2) - math.log(positives))
    is_negative = (labels[None, :] != filter_classes[:, None]).float()  # other genres should fit T-
    return -mi.mean() + F.binary_cross_entropy_with_logits(negative_logit, is_negative)
