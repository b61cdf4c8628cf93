"""The acceptance table of issue 5: STSBenchmark Spearman and FDI after a short unsupervised run, per objective,
with its own gradient and with the unified paradigm's components (arXiv 2402.18281).

    python benchmarks/cse_acceptance.py [--steps 30] [--batch-size 32] [--lr 5e-5] [--margin 0.3]
                                        [--objectives infonce ...] [--params FILE] [-S key=value ...]

Each row is one `embedlab cse` flow (data wiki: dropout views, MLflow-tracked) from params.yaml's `cse` section
with the given overrides; "modified" adds the margin (default 0.3), weight temperature 0.05 and ratio 1.5 (1.75 for
alignment + uniformity), the paper's settings for its modified non-contrastive losses. The base model is scored too, at the
same max_seq_length. Prints a markdown table; each run's cse.json lies under <output>/<run name>/, and a run
whose cse.json exists is read back rather than trained again (so an interrupted table resumes).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from embedlab.config import load_settings
from embedlab.flows.cse import CseRequest, cse
from embedlab.flows.evaluate import EvaluateRequest, evaluate
from embedlab.models.encoder import load_encoder
from embedlab.tasks.cse.train import run_name

OBJECTIVES = ("infonce", "align_uniform", "barlow_twins", "vicreg", "arccon", "mpt", "met")
MODIFIED = {"weight_temperature": 0.05, "ratio": 1.5}
RATIO = {"align_uniform": 1.75}


def base_score(base: str, max_seq_length: int, params_file: str | None) -> float:
    """STSBenchmark of the untrained base at the runs' max_seq_length, through the evaluation flow."""
    with tempfile.TemporaryDirectory() as folder:
        model = load_encoder(base, "cpu")
        model.max_seq_length = max_seq_length
        model.save(folder)
        return evaluate(EvaluateRequest(model=folder, tasks=["STSBenchmark"], output=f"{folder}/out",
                                        params_file=params_file, track=False))["STSBenchmark"]["main_score"]


def run(objective: str, overrides: list[str], params_file: str | None) -> dict:
    """One row's summary: its cse.json where the run already finished, else a new `embedlab cse` flow."""
    settings = load_settings(Path(params_file) if params_file else None, [f"cse.objective={objective}", *overrides])
    done = settings.path(settings.params.cse.output) / run_name(settings.params.cse) / "cse.json"
    if done.is_file():
        return json.loads(done.read_text())
    return cse(CseRequest(objective=objective, data="wiki", params_file=params_file, overrides=overrides))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--margin", type=float, default=0.3, help="GD margin of the modified rows")
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=OBJECTIVES)
    parser.add_argument("--output", default="results/cse_acceptance")
    parser.add_argument("--params", default=None, help="params file (default: ./params.yaml)")
    parser.add_argument("-S", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    shared = [f"cse.max_steps={args.steps}", f"cse.batch_size={args.batch_size}", f"cse.lr={args.lr}",
              f"cse.output={args.output}", *args.overrides]
    seq = load_settings(Path(args.params) if args.params else None, shared).params.cse.max_seq_length
    print(f"base (no training): STSBenchmark {base_score('minilm', seq, args.params):.4f}", flush=True)
    print("| objective | components | STSBenchmark | FDI_a | FDI_u |\n|---|---|---|---|---|", flush=True)
    for name in args.objectives:
        modified = {"margin": args.margin, **MODIFIED, "ratio": RATIO.get(name, MODIFIED["ratio"])}
        for label, components in (("own", {}), (f"modified (m={args.margin:g})", modified)):
            overrides = shared + [f"cse.paradigm.{key}={value}" for key, value in components.items()]
            summary = run(name, overrides, args.params)
            fdi = summary["fdi"]
            print(f"| {name} | {label} | {summary['scores']['STSBenchmark']:.4f} | {fdi['fdi_align']:+.4f} "
                  f"| {fdi['fdi_uniform']:+.4f} |", flush=True)


if __name__ == "__main__":
    main()
