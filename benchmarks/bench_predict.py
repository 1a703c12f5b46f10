"""`planner predict --batch` speed: 1,000 random queries (target: under 10 s), printed, not asserted."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from planner.catalog import load_catalog
from planner.predict import predict_many


def random_queries(catalog, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "model": rng.choice(sorted(catalog.models), n),
        "gpu": rng.choice(sorted(catalog.accelerators), n),
        "gpus": rng.choice([1, 2, 4, 8], n),
        "precision": rng.choice(sorted(catalog.precisions), n),
        "isl": rng.choice([128, 1024, 4096], n),
        "osl": rng.choice([128, 1024], n),
        "tpot_slo_ms": rng.choice([np.nan, 30.0, 60.0], n),
    })


def main() -> None:
    catalog = load_catalog()
    queries = random_queries(catalog, 1000)
    start = time.perf_counter()
    result = predict_many(queries, catalog)
    elapsed = time.perf_counter() - start
    print(f"predict --batch: {len(queries)} queries in {elapsed:.2f} s "
          f"({len(queries) / elapsed:,.0f} queries/s; {int(result['fits'].sum())} fit); target < 10 s")


if __name__ == "__main__":
    main()
