#!/usr/bin/env python3
"""Regenerates llmflow's embedded price table from LiteLLM's package on PyPI.

LiteLLM ships `model_prices_and_context_window_backup.json` inside its wheel. This script
downloads the newest wheel (no dependencies, nothing installed), keeps the fields llmflow
prices with, and writes crates/core/data/model_prices.json plus a one-line source note.

Usage: python3 scripts/update-pricing.py [--version X.Y.Z]
"""
import argparse
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile
import zipfile

KEEP = (
    "litellm_provider",
    "mode",
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
    "input_cost_per_token_above_200k_tokens",
    "output_cost_per_token_above_200k_tokens",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates", "core", "data", "model_prices.json")
SOURCE = os.path.join(ROOT, "crates", "core", "data", "model_prices.source")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", help="litellm version (default: newest)")
    args = ap.parse_args()
    spec = f"litellm=={args.version}" if args.version else "litellm"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", tmp, spec],
            check=True,
        )
        wheels = glob.glob(os.path.join(tmp, "litellm-*.whl"))
        if not wheels:
            print("no litellm wheel downloaded", file=sys.stderr)
            return 1
        wheel = wheels[0]
        version = os.path.basename(wheel).split("-")[1]
        with zipfile.ZipFile(wheel) as z:
            raw = json.loads(z.read("litellm/model_prices_and_context_window_backup.json"))
    table = {}
    for name, entry in sorted(raw.items()):
        if name == "sample_spec" or not isinstance(entry, dict):
            continue
        kept = {k: entry[k] for k in KEEP if k in entry and entry[k] is not None}
        if "input_cost_per_token" in kept or "output_cost_per_token" in kept:
            table[name] = kept
    with open(OUT, "w") as f:
        json.dump(table, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    today = datetime.date.today().isoformat()
    with open(SOURCE, "w") as f:
        f.write(f"litellm {version} model_prices_and_context_window_backup.json, {today}\n")
    print(f"{len(table)} models from litellm {version} -> {os.path.relpath(OUT, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
