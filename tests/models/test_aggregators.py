"""SALAD / SoftP / GeM against brute-force formulas, and the aggregator registry."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from geovpr.errors import ConfigError
from geovpr.models.aggregators import build_aggregator, list_aggregators
from geovpr.models.aggregators.salad import log_optimal_transport

SMALL = {"num_channels": 12, "num_clusters": 4, "cluster_dim": 5, "token_dim": 3, "hidden_dim": 8}


def make(name: str, **kw):
    torch.manual_seed(0)
    return build_aggregator({"name": name, **SMALL, **kw}).eval()


def sinkhorn_reference(scores: torch.Tensor, dust: float, iters: int) -> torch.Tensor:
    """Textbook log-domain Sinkhorn in float64, one sample at a time, written with loops."""
    m, n = scores.shape
    z = torch.cat([scores.double(), torch.full((1, n), dust, dtype=torch.float64)])
    log_a = torch.tensor([-math.log(m + n)] * m + [math.log(n - m) - math.log(m + n)], dtype=torch.float64)
    log_b = torch.full((n,), -math.log(m + n), dtype=torch.float64)
    u, v = torch.zeros(m + 1, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    for _ in range(iters):
        u = torch.stack([log_a[i] - torch.logsumexp(z[i] + v, 0) for i in range(m + 1)])
        v = torch.stack([log_b[j] - torch.logsumexp(z[:, j] + u, 0) for j in range(n)])
    return z + u[:, None] + v[None, :] + math.log(m + n)


def test_sinkhorn_matches_loop_reference_and_columns_sum_to_one():
    torch.manual_seed(1)
    scores = 3 * torch.randn(2, 4, 9)
    plan = log_optimal_transport(scores, torch.tensor(0.7))
    for b in range(2):
        ref = sinkhorn_reference(scores[b], 0.7, 3)
        assert torch.allclose(plan[b].double(), ref, atol=1e-5)
    assert torch.allclose(plan.exp().sum(dim=1), torch.ones(2, 9), atol=1e-5)  # last sweep fixes columns
    assert not torch.allclose(plan, log_optimal_transport(scores, torch.tensor(0.7), iters=4), atol=1e-4)


def test_sinkhorn_needs_more_patches_than_clusters():
    with pytest.raises(ConfigError, match="n=4 patches, m=4 clusters"):
        log_optimal_transport(torch.randn(1, 4, 4), torch.tensor(1.0))


def test_salad_equals_expanded_brute_force():
    agg = make("salad")
    x, t = torch.randn(2, 12, 3, 4), torch.randn(2, 12)
    with torch.no_grad():
        out, inter = agg.forward_intermediates(x, t)
        plan = inter["log_transport_with_dustbin"][:, :4].exp()  # [B, m, n]
        feats = inter["cluster_features"]  # [B, l, n]
        expanded = (feats.unsqueeze(2) * plan.unsqueeze(1)).sum(-1)  # the reference's [B, l, m, n] form
        desc = []
        for b in range(2):
            v = [F.normalize(expanded[b, :, k], dim=0) for k in range(4)]
            flat = torch.stack([v[k][c] for c in range(5) for k in range(4)])  # index c*m + k
            desc.append(F.normalize(torch.cat([F.normalize(inter["token_features"][b], dim=0), flat]), dim=0))
    assert out.shape == (2, agg.out_dim) == (2, 3 + 4 * 5)
    assert torch.allclose(out, torch.stack(desc), atol=1e-6)
    assert torch.allclose(out.norm(dim=1), torch.ones(2))


def test_salad_gradients_flow_and_token_is_required():
    agg = make("salad").train()
    x, t = torch.randn(3, 12, 3, 3), torch.randn(3, 12)
    agg(x, t).sum().backward()
    assert all(p.grad is not None for n, p in agg.named_parameters() if n != "dust_bin")
    with pytest.raises(ConfigError, match="return_token"):
        agg(x, None)


def test_softp_follows_the_released_formula():
    agg = make("softp", weighting_hidden_dim=6, singlebranch_mid_dim=4, singlebranch_feature_dim=3)
    x, t = torch.randn(2, 12, 3, 3), torch.randn(2, 12)
    with torch.no_grad():
        out, inter = agg.forward_intermediates(x, t)
        r = x.flatten(2).norm(dim=1) + 1e-6
        beta = 0.5 * agg.soft_weighting.predictor(r.unsqueeze(-1)).squeeze(-1)
        xw = x * (1 + beta.view(2, 1, 3, 3))
        f = agg.cluster_features(xw).flatten(2)
        f = f - f.mean(dim=(1, 2), keepdim=True)
        p = torch.softmax(agg.score(xw).flatten(2), dim=2)
        fp = f @ p.transpose(1, 2) / 9
        e = torch.sigmoid(agg.gpn.projection(fp.mean(dim=1))).view(2, 1, 1)
        fp = F.normalize(torch.sign(fp) * (fp.abs() + 1e-6) ** e + fp, dim=1).flatten(1)
        ref = F.normalize(torch.cat([F.normalize(agg.token_features(t), dim=1), fp], dim=1), dim=1)
    assert torch.allclose(beta, inter["softweight_beta"])
    assert torch.allclose(out, ref, atol=1e-6)
    assert "single_branch.3.weight" in agg.state_dict()  # kept so SAGE checkpoints load strictly


def test_gem_is_generalised_mean_then_l2():
    agg = build_aggregator({"name": "gem", "num_channels": 6})
    x = torch.rand(2, 6, 3, 5) + 0.1
    with torch.no_grad():
        agg.p.fill_(1.0)
        assert torch.allclose(agg(x), F.normalize(x.mean(dim=(2, 3)), dim=1), atol=1e-6)
        agg.p.fill_(3.0)
        ref = F.normalize((x ** 3).mean(dim=(2, 3)) ** (1 / 3), dim=1)
        assert torch.allclose(agg(x), ref, atol=1e-6)
    assert agg.out_dim == 6


def test_registry_lists_and_rejects():
    assert {"salad", "softp", "gem"} <= set(list_aggregators())
    with pytest.raises(ConfigError, match="unknown aggregator 'netvlad'"):
        build_aggregator({"name": "netvlad"})
    with pytest.raises(ConfigError, match="bad options"):
        build_aggregator({"name": "salad", "clusters": 3})
