"""Encoding sentences/s of embedlab's evaluation encoder vs `SentenceTransformer.encode`, same model and texts.

    python benchmarks/encode_throughput.py [--base minilm] [--batch-size 64] [--docs 500] [--repeats 3] [--int8]

Texts: a seeded sample of `--docs` SciFact corpus documents (title and text joined by a space, as mteb's retrieval
evaluator joins them) and the 2,758 STSBenchmark test sentences, read from the data root. Ours is what
`embedlab evaluate` encodes with (`SentenceEncoder.encode_texts`, without the embedding cache, which would be
unfair); theirs is `SentenceTransformer.encode` on the same loaded model, same batch size (evaluate.batch_size,
64), fp32, CPU, same torch threads (one process). `--int8` adds our encoder on the int8 dynamically quantised model
(`-S evaluate.precision=int8`), compared with theirs in fp32. After a warm-up call each, the sides alternate (in
reversed order every other round) for `--repeats` rounds; prints each round with the 1-minute load average, the
median sentences/s per side and the ratios of medians (goal for ours/theirs: >= 1.2). The default 500 documents keep a run near 3 minutes on 2 quiet cores; `--docs 2000` is the
larger sample (about four times as long).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

from embedlab.config import load_settings
from embedlab.eval_tasks.loading import load_tasks
from embedlab.models.encoder import load_encoder
from embedlab.models.mteb_encoder import SentenceEncoder


def texts(data_root, docs: int, seed: int) -> dict[str, list[str]]:
    """{"SciFact": `docs` sampled corpus documents, "STSBenchmark": the test sentences (both columns)}."""
    scifact, sts = load_tasks(["SciFact", "STSBenchmark"], [], data_root)
    corpus = [f"{doc['title']} {doc['text']}".strip() for doc in scifact.data["corpus"].values()]
    return {"SciFact": random.Random(seed).sample(corpus, min(docs, len(corpus))),
            "STSBenchmark": sts.data["test"]["sentence1"] + sts.data["test"]["sentence2"]}


def rate(encode, batch: list[str]) -> float:
    """Sentences per second of one `encode(batch)` call."""
    start = time.perf_counter()
    encode(batch)
    return len(batch) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="minilm")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--docs", type=int, default=500, help="SciFact documents sampled")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    parser.add_argument("--int8", action="store_true", help="also our encoder on the int8 quantised model")
    args = parser.parse_args()
    settings = load_settings()
    model = load_encoder(args.base, "cpu", "fp32")
    sides = {
        "embedlab": SentenceEncoder(model, args.base, args.batch_size, show_progress_bar=False).encode_texts,
        "sentence-transformers": lambda batch: model.encode(batch, batch_size=args.batch_size, convert_to_numpy=True),
    }
    if args.int8:
        quantized = load_encoder(args.base, "cpu", "int8")
        sides["embedlab int8"] = SentenceEncoder(quantized, args.base, args.batch_size,
                                                 show_progress_bar=False).encode_texts
    print(f"base {args.base}, batch {args.batch_size}, fp32 CPU ({os.cpu_count()} cores, "
          f"{model.max_seq_length} tokens at most), {args.repeats} alternating rounds")
    for name, batch in texts(settings.data_root, args.docs, args.seed).items():
        for encode in sides.values():  # warm-up: first-call costs (allocations, lazy imports) are nobody's
            encode(batch[:args.batch_size])
        rounds = []
        for n in range(args.repeats):
            order = list(sides) if n % 2 == 0 else list(reversed(sides))  # a drift in load hits each side alike
            rounds.append({side: rate(sides[side], batch) for side in order})
            print(f"{name} ({len(batch)} texts) round {n + 1}: "
                  + "  ".join(f"{side} {rounds[-1][side]:8.1f}" for side in sides)
                  + f" sentences/s  (load {os.getloadavg()[0]:.1f})", flush=True)
        medians = {side: statistics.median(r[side] for r in rounds) for side in sides}
        for side, value in medians.items():
            ratio = value / medians["sentence-transformers"]
            print(f"{name}: {side + ', median':<32} {value:10.1f} sentences/s   ratio to sentence-transformers "
                  f"{ratio:.3f}")


if __name__ == "__main__":
    main()
