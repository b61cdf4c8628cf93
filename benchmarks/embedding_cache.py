"""Cold vs warm evaluation of an unchanged model: what the embedding cache saves, measured side by side.

    python benchmarks/embedding_cache.py [--model minilm] [--task STSBenchmark --task Banking77Classification]

Runs each task twice in one process against a fresh cache folder (first run encodes and fills the
cache, second run reads it) and prints seconds per run, the warm/cold ratio, and the largest change of any score.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from embedlab.config import load_settings
from embedlab.eval_tasks.loading import load_tasks
from embedlab.tasks.evaluate import load_model, score_eval_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--task", action="append", dest="tasks")
    args = parser.parse_args()
    tasks = args.tasks or ["STSBenchmark", "Banking77Classification"]
    settings = load_settings()
    loaded_tasks = load_tasks(tasks, [], settings.data_root)
    model = load_model.fn(args.model, settings.params.evaluate.device, settings.params.evaluate.batch_size)
    model.encoder.show_progress_bar = False
    print(f"{'task':<26} {'cold s':>8} {'warm s':>8} {'warm/cold':>10}  max |score change|")
    with tempfile.TemporaryDirectory() as cache:
        for task in loaded_tasks:
            timings, results = [], []
            for _ in range(2):
                start = time.perf_counter()
                results.append(score_eval_task.fn(model, task, Path(cache)))
                timings.append(time.perf_counter() - start)
            cold, warm = timings
            # Repeated texts are encoded in different padded batches on the cold run (float noise ~1e-7);
            # the cache holds one vector per text, so scores may move in the last digits.
            change = max(abs(results[0].scores[k] - results[1].scores[k]) for k in results[0].scores)
            print(f"{task.spec.name:<26} {cold:8.2f} {warm:8.2f} {warm / cold:10.4f}  {change:.1e}")


if __name__ == "__main__":
    main()
