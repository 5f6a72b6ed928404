"""Zhang et al.'s filter loss: checked against a direct, slow evaluation of the MI formula, and shown to
make activations concentrate when it alone is minimized."""

import math

import pytest
import torch

from specinterp_plugins.models.interpretable import (
    ACTIVATION_SCALE,
    InterpretableMask,
    TemplateBank,
    filter_loss,
    log_likelihoods,
    mutual_information,
    positive_templates,
)


def slow_mutual_information(maps: torch.Tensor, n: int, variant: str) -> float:
    """MI(X; T) for one filter, term by term in Python floats, straight from the paper's definitions."""
    tau, beta = 0.5 / n**2, 4.0
    if variant == "2d":
        centres = [(a, b) for a in range(n) for b in range(n)]
        template = lambda mu, i, j: tau * max(1 - beta * (abs(i - mu[0]) + abs(j - mu[1])) / n, -1)  # noqa: E731
    else:
        centres = [(a, None) for a in range(n)]
        template = lambda mu, i, j: tau * max(1 - beta * abs(i - mu[0]) / n, -1)  # noqa: E731
    alpha = len(centres) / (1 + len(centres))
    scale = float(maps.mean()) / ACTIVATION_SCALE
    xs = [[[float(v) / scale for v in row] for row in x] for x in maps]
    templates = [[[template(mu, i, j) for j in range(n)] for i in range(n)] for mu in centres]
    templates.append([[-tau] * n for _ in range(n)])
    priors = [alpha / len(centres)] * len(centres) + [1 - alpha]
    trace = [[sum(x[i][j] * t[i][j] for i in range(n) for j in range(n)) for t in templates] for x in xs]
    z = [sum(math.exp(trace[b][k]) for b in range(len(xs))) for k in range(len(templates))]
    p_x_t = [[math.exp(trace[b][k]) / z[k] for k in range(len(templates))] for b in range(len(xs))]
    p_x = [sum(priors[k] * p_x_t[b][k] for k in range(len(templates))) for b in range(len(xs))]
    return sum(priors[k] * p_x_t[b][k] * math.log(p_x_t[b][k] / p_x[b])
               for b in range(len(xs)) for k in range(len(templates)))


@pytest.mark.parametrize("variant", ["2d", "freq"])
def test_vectorized_mi_matches_direct_formula(variant):
    torch.manual_seed(0)
    n = 5
    maps = torch.relu(torch.randn(6, 3, n, n, dtype=torch.float64))  # 6 windows, 3 filters
    maps[0, 0, 1, 3] = 8.0  # one strongly concentrated map, so MI is far from zero
    bank = TemplateBank(n, variant, dtype=torch.float64)
    fast = mutual_information(log_likelihoods(maps, bank), bank.log_priors)
    for f in range(3):
        assert fast[f].item() == pytest.approx(slow_mutual_information(maps[:, f], n, variant), rel=1e-9)
    assert fast.min() > 0.05


def test_templates_follow_the_paper():
    n = 6
    t = positive_templates(n)
    assert t.shape == (n * n, n, n)
    mu = 2 * n + 3  # position (2, 3)
    assert t[mu, 2, 3] == 1.0 and t[mu, 2, 4] == pytest.approx(1 - 4 / n) and t[mu].min() == -1.0
    bank = TemplateBank(n)
    assert bank.tau == pytest.approx(0.5 / n**2)
    priors = bank.log_priors.exp()
    assert priors.sum().item() == pytest.approx(1.0) and priors[-1].item() == pytest.approx(1 / (1 + n * n))
    freq = positive_templates(n, "freq")
    assert freq.shape == (n, n, n) and torch.all(freq[2, 2] == 1.0)  # constant over time in its band


def test_mask_keeps_the_peak_and_suppresses_far_activations():
    n = 8
    maps = torch.ones(1, 1, n, n)
    maps[0, 0, 1, 1] = 5.0
    out = InterpretableMask(TemplateBank(n))(maps)
    assert out[0, 0, 1, 1] == 5.0 and out[0, 0, 7, 7] == 0.0 and out[0, 0, 1, 2] == pytest.approx(1 - 4 / n)


def concentration(maps: torch.Tensor, radius: int = 2) -> float:
    """Mean share of a map's mass within L1 distance ``radius`` of its peak."""
    n = maps.shape[-1]
    flat = maps.flatten(1)
    peak = flat.argmax(dim=1)
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    down, across = (i.flatten()[None] - (peak // n)[:, None]).abs(), (j.flatten()[None] - (peak % n)[:, None]).abs()
    near = down + across <= radius
    return float(((flat * near).sum(1) / flat.sum(1)).mean())


def test_gradient_descent_on_the_loss_alone_concentrates_activations():
    torch.manual_seed(1)
    n, windows = 12, 16
    raw = torch.nn.Parameter(torch.randn(windows, 1, n, n) * 0.3)
    labels = torch.zeros(windows, dtype=torch.long)  # every window is of the filter's genre
    bank = TemplateBank(n)
    before = concentration(torch.nn.functional.softplus(raw)[:, 0].detach())
    optimizer = torch.optim.Adam([raw], lr=0.05)
    losses = []
    for _ in range(300):
        loss = filter_loss(torch.nn.functional.softplus(raw), labels, torch.zeros(1, dtype=torch.long), bank)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    after = concentration(torch.nn.functional.softplus(raw)[:, 0].detach())
    assert losses[-1] < losses[0] - 0.5
    assert before < 0.2 and after > 2 * before, (before, after)


def negative_posterior(maps: torch.Tensor, bank: TemplateBank) -> torch.Tensor:
    """p(T- | x) per window for one filter, with equal priors for T- and T+ (as the category term)."""
    log_px_t = log_likelihoods(maps, bank)[0]
    positive = torch.logsumexp(log_px_t[:, :-1], dim=1) - math.log(log_px_t.shape[1] - 1)
    return torch.sigmoid(log_px_t[:, -1] - positive)


def test_windows_of_other_genres_are_pushed_to_the_negative_template():
    torch.manual_seed(2)
    n = 8
    bank = TemplateBank(n)
    raw = torch.nn.Parameter(torch.randn(8, 1, n, n) * 0.3)
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])  # the filter belongs to genre 0
    softplus = torch.nn.functional.softplus
    before = negative_posterior(softplus(raw).detach(), bank)
    optimizer = torch.optim.Adam([raw], lr=0.05)
    for _ in range(200):
        loss = filter_loss(softplus(raw), labels, torch.zeros(1, dtype=torch.long), bank)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = negative_posterior(softplus(raw).detach(), bank)
    assert before[4:].mean() - before[:4].mean() < 0.1  # no separation at the start
    assert after[4:].min() > 0.5 > after[:4].max()  # other genres fit T-, the filter's own genre fits T+
