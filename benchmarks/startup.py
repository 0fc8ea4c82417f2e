"""How fast the command line starts: `policy-qa --help`, and one cold `policy-qa search` (a new process, so
every library is imported and the index opened again; the operating system's file cache is warm).

    python benchmarks/startup.py              # 5 runs of each, against index/ (build it first: make index)
    python benchmarks/startup.py --runs 10

Targets (issue 10): --help under 0.5 s, a search under 2 s, on these 2-core machines.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "policy-qa --help": (["--help"], 0.5),
    "policy-qa search (hybrid, cold)": (["search", "我们是小微企业，用电接入要自己出钱吗？", "-k", "5"], 2.0),
    "policy-qa search --mode bm25 (cold)": (["search", "我们是小微企业，用电接入要自己出钱吗？", "-k", "5", "--mode", "bm25"], None),
}


def seconds(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "assistant", *args], cwd=ROOT, capture_output=True, text=True, env=os.environ)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"policy-qa {' '.join(args)} failed:\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    index = Path(os.environ.get("POLICY_QA_INDEX_DIR", ROOT / "index"))
    if not (index / "manifest.json").exists():
        raise SystemExit(f"no index in {index}: build it first with `make index` (or set POLICY_QA_INDEX_DIR)")
    seconds(COMMANDS["policy-qa search (hybrid, cold)"][0])  # the first run of all writes the tokenizer's table cache
    print(f"{'command':<40} {'median':>8} {'min':>8} {'max':>8}   target")
    for name, (args, target) in COMMANDS.items():
        times = [seconds(args) for _ in range(options.runs)]
        verdict = "" if target is None else f"< {target:g} s: {'met' if statistics.median(times) < target else 'NOT met'}"
        print(f"{name:<40} {statistics.median(times):>7.2f}s {min(times):>7.2f}s {max(times):>7.2f}s   {verdict}")


if __name__ == "__main__":
    main()
