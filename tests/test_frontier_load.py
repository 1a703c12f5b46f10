"""`planner frontier` plots what `predict` answers: each point's figures from the load model at its batch as
closed-loop clients per replica, not the step model's full batch."""

from __future__ import annotations

import pytest

from planner.catalog import load_catalog
from planner.predict import predict_one
from planner.predict.frontier import compute_frontier

CAT = load_catalog()


def test_a_frontier_point_is_what_predict_answers_for_it():
    """gpt-oss-120b DEP4 at batch 4,096 on H200: the frontier read 3.5 tokens/s per user and TTFT 0.28 s (the
    step model's full batch) where predict answers the same configuration 3.86 and 3.15 s. That point left the
    front with the generic engine's 1,024 seats (batch 4,096 queued 3,072 of them): the aggregated point of the
    largest batch on it, against predict with its batch as clients."""
    q = dict(model="gpt-oss-120b", gpu="h200-sxm", precision="mxfp4", isl=1024, osl=128)
    front = compute_frontier(CAT, q["model"], [q["gpu"]], [q["precision"]], q["isl"], q["osl"])
    agg = front[front["serving"] == "aggregated"]
    pt = agg.loc[agg["batch"].idxmax()]
    ans = predict_one(CAT, **q, gpus=int(pt["gpus"]), tp=int(pt["tp"]), pp=int(pt["pp"]), ep=int(pt["ep"]),
                      concurrency=int(pt["batch"]))
    assert ans["in_flight"] == pt["batch"] and ans["attn_dp"] == pt["attn_dp"]
    assert pt["output_tok_s_per_user"] == pytest.approx(ans["output_tok_s_per_user"], rel=1e-9)
    assert pt["output_tok_s_per_gpu"] == pytest.approx(ans["output_tok_s"] / pt["gpus"], rel=1e-9)
    assert pt["ttft_s"] == pytest.approx(ans["ttft_s"], rel=1e-9)
    assert pt["tpot_s"] == pytest.approx(ans["tpot_s"], rel=1e-9)
