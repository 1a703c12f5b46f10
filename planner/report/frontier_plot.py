"""Draw the frontier computed by `planner.predict.frontier` (matplotlib, imported only when called)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_frontier(front: pd.DataFrame, out_dir: Path, title: str) -> list[Path]:
    """frontier.png/.svg (throughput view) and frontier_cost.png/.svg, frontier_energy.png/.svg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = [
        ("frontier", "output_tok_s_per_gpu", "output tokens/s per GPU"),
        ("frontier_cost", "tokens_per_usd", "output tokens per US dollar (owned, base prices)"),
        ("frontier_energy", "tokens_per_kwh", "output tokens per kWh (board energy)"),
    ]
    written = []
    for stem, ycol, ylabel in views:
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for series, grp in front.groupby("series", sort=True):
            g = grp.sort_values("output_tok_s_per_user")
            ax.plot(g["output_tok_s_per_user"], g[ycol], marker="o", markersize=3, label=series)
        ax.set_xlabel("output tokens/s per user (1 / TPOT)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = out_dir / f"{stem}.{ext}"
            # Fixed metadata keeps the files byte-identical run to run.
            meta = {"Software": None} if ext == "png" else {"Date": None, "Creator": None}
            # svg.hashsalt: matplotlib otherwise names SVG clip paths and markers with random ids.
            with plt.rc_context({"svg.hashsalt": "planner-frontier"}):
                fig.savefig(path, dpi=120, metadata=meta)
            written.append(path)
        plt.close(fig)
    return written
