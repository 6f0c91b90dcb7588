"""Peak memory of ``opinara analyze --file`` as the input grows: it should stay flat.

Writes JSON Lines files of N short reviews (the demo sample, repeated with new ids), runs the real
CLI on each and reports the child's peak RSS next to the input size.

    .venv/bin/python bench/stream_memory.py [--sizes 20000 80000] [--backend lexicon]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header, short_reviews


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 80000])
    parser.add_argument("--backend", default="lexicon")
    args = parser.parse_args()
    header(f"streaming memory, backend={args.backend}")
    workdir = Path(tempfile.mkdtemp(prefix="opinara-mem-"))
    for size in args.sizes:
        path = workdir / f"reviews-{size}.jsonl"
        with path.open("w") as handle:
            for i, text in enumerate(short_reviews(size)):
                handle.write(json.dumps({"id": i, "text": text}) + "\n")
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "opinara", "analyze", "--backend", args.backend, "--file", str(path)],
            stdout=subprocess.DEVNULL,
            env={**os.environ, "OPINARA_DATA_DIR": str(workdir / "data")},
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        seconds = time.perf_counter() - start
        if status:
            raise SystemExit(f"opinara analyze failed on {path}")
        mb = path.stat().st_size / 1e6
        print(
            f"{size:>9} texts {mb:8.1f} MB input  peak RSS {usage.ru_maxrss / 1024:8.1f} MB  {size / seconds:8.0f} texts/s"
        )


if __name__ == "__main__":
    main()
