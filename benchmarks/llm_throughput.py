"""Prompt and generation tokens/s of the local LLMs through each back-end, measured side by side in one run.

    python benchmarks/llm_throughput.py [--model smollm2 --model qwen-coder] [--rounds 2] [--max-tokens 80]

For each model: `llama_cpp` (in process), `openai` against a real `embedlab llm serve` on a free loopback port, and
`transformers` (in process; the converted folder for smollm2, the dequantized GGUF for qwen-coder: slow to load).
Each round and back-end (alternating, so load from other processes falls on all of them alike) asks two prompts of
the same length (~650 tokens of wiki text): one for 1 token (prompt processing) and one, with a different first
line so that no prefix is reused from a cache, for up to `--max-tokens` greedy tokens. Prompt tok/s = prompt
tokens / the 1-token call's seconds; generation tok/s = (generated - 1) / (long call - 1-token call). Medians of
the rounds, plus the load seconds, are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from embedlab.models.generation.backend import BackendSpec, Prompt, build_backend
from embedlab.models.generation.server import free_port

DATA_ROOT = Path(os.environ.get("EMBEDLAB_DATA_ROOT", Path(__file__).resolve().parents[2] / "shared" / "data"))
WIKI = DATA_ROOT / "simcse" / "wiki1m_for_simcse_first11914.txt"


def prompt(tag: str, lines: int = 24) -> Prompt:
    text = "\n".join(WIKI.read_text(encoding="utf-8").splitlines()[:lines])
    return Prompt((("user", f"Note {tag}.\n{text}\n\nRetell all of the text above in detail, sentence by sentence."),))


def serve(model: str, threads: int) -> tuple[subprocess.Popen, str]:
    port = free_port("127.0.0.1")
    process = subprocess.Popen([sys.executable, "-c", "from embedlab.cli import main; main()", "llm", "serve",
                                "--model", model, "--port", str(port), "--threads", str(threads)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    while True:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).close()
            return process, url
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"llm serve --model {model} exited with {process.returncode}")
            time.sleep(0.5)


def timed(backend, item: Prompt):
    start = time.perf_counter()
    [(_, reply)] = list(backend.complete([item]))
    return reply, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--backend", action="append", dest="backends")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("| model | back-end | prompt tokens | prompt tok/s | generated | generation tok/s | load s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in args.models or ["smollm2"]:
        server, url = serve(model, args.threads)
        backends, loads = {}, {}
        for kind in args.backends or ["llama_cpp", "openai", "transformers"]:
            start = time.perf_counter()
            where = {"base_url": url} if kind == "openai" else {"device": "cpu"}
            spec = BackendSpec(kind=kind, model=model, n_ctx=2048, threads=args.threads, timeout_s=3600, **where)
            backends[kind] = build_backend(spec, "text", "bench")
            loads[kind] = time.perf_counter() - start
        rows = {kind: [] for kind in backends}
        for r in range(args.rounds):
            for kind, backend in backends.items():
                backend.decoding["max_tokens"] = 1  # one loaded model, two reply lengths (no cache in between)
                first, t1 = timed(backend, prompt(f"{r}a"))
                backend.decoding["max_tokens"] = args.max_tokens
                whole, tn = timed(backend, prompt(f"{r}b"))
                rows[kind].append((first.prompt_tokens, first.prompt_tokens / t1, whole.completion_tokens,
                                   (whole.completion_tokens - 1) / max(tn - t1, 1e-9)))
        for kind, measured in rows.items():
            p_tok, p_rate, g_tok, g_rate = (statistics.median(column) for column in zip(*measured))
            print(f"| {model} | {kind} | {p_tok:.0f} | {p_rate:.1f} | {g_tok:.0f} | {g_rate:.1f} | {loads[kind]:.1f} |",
                  flush=True)
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
