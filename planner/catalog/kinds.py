"""The kinds of catalog entries, in display order (no dependencies: the CLI reads it to build `--help`)."""

KIND_NAMES: tuple[str, ...] = (
    "accelerators",
    "systems",
    "racks",
    "sites",
    "models",
    "precisions",
    "workloads",
    "rental_prices",
    "economics",
    "engines",
    "network",
)
