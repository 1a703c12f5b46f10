"""The per-token acceptance probability of a speculative step (a leaf module: the engines' draft-length
conversion and the simulator's per-step draws both use it)."""

from __future__ import annotations


def acceptance_rate(mean_accept: float, draft_tokens: float) -> float:
    """Per-token acceptance probability alpha of a speculative step whose mean emitted tokens is `mean_accept`
    with `draft_tokens` drafts: under the standard i.i.d. model (Leviathan, Kalman & Matias, "Fast Inference
    from Transformers via Speculative Decoding", ICML 2023, eq. 1) a step emits 1 + min(G, k) tokens with
    P(G >= j) = alpha^j, so its mean is (1 - alpha^(k+1)) / (1 - alpha); solved by bisection."""
    k = round(draft_tokens)
    if k <= 0 or mean_accept <= 1.0:
        return 0.0
    if mean_accept >= k + 1:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(60):
        a = (lo + hi) / 2.0
        lo, hi = (a, hi) if sum(a ** j for j in range(k + 1)) < mean_accept else (lo, a)
    return (lo + hi) / 2.0


def acceptance_at(accept_k0: float, k0: int, k: int) -> float:
    """Mean tokens per verification step at draft length k, from the acceptance at k0 (geometric model)."""
    if k == k0:
        return float(accept_k0)
    a = acceptance_rate(accept_k0, k0)
    return float(sum(a**i for i in range(k + 1)))
