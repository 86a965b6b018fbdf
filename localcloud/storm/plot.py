"""The storm as a picture: devices ACTIVE per region (and everywhere) over simulated time, against the bound."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(result: Any, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = [t for t, _, _ in result.timeline]
    figure, axes = plt.subplots(figsize=(9, 5))
    for region in result.regions:
        axes.plot(times, [counts[region] for _, counts, _ in result.timeline], label=f"ACTIVE in {region}")
    axes.plot(times, [everywhere for _, _, everywhere in result.timeline], label="ACTIVE everywhere", linewidth=2)
    if result.bound_s:
        axes.axvline(result.bound_s, color="black", linestyle="--",
                     label=f"quota bound {result.bound_s:.0f} s ({result.bound_api} in {result.bound_region})")
    axes.set_xlabel("simulated seconds since the first connection")
    axes.set_ylabel("devices")
    axes.set_title(f"{result.devices} devices first connecting at {result.rate:g}/s "
                   f"({', '.join(f'{r}: {n}' for r, n in result.first_regions.items())})")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
