"""Training samples/s of embedlab's Lightning trainer vs sentence-transformers' own trainer, same task and settings.

    python benchmarks/train_throughput.py [--task sts] [--base minilm] [--batch-size 32] [--steps 20]

Both fine-tune the same base on the same examples of one training task (params.yaml `train.tasks`), with the same
loss, batch size, number of steps, learning rate, sequence length and seed, on the CPU, without checkpoints or
tracking. Each side's samples/s counts its training loop only (Lightning: train start to end; Hugging Face:
its `train_samples_per_second`). The two alternate for `--repeats` rounds, so that a burst of load from elsewhere
hits both alike; prints each round and the medians, and ours/theirs (goal: >= 1.0).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import CoSENTLoss, MultipleNegativesRankingLoss

from embedlab.config import load_settings
from embedlab.models.embedding_module import build_encoder
from embedlab.tasks.training import mine_negatives, read_train_tasks, train_model

REFERENCE_LOSSES = {"mnrl": MultipleNegativesRankingLoss, "cosent": CoSENTLoss}


def theirs(task, base: str, batch_size: int, steps: int, lr: float, seq: int, seed: int, out: Path) -> float:
    model = build_encoder(base, max_seq_length=seq)
    columns = list(zip(*(example.texts for example in task.examples)))
    data = {f"text{i}": list(column) for i, column in enumerate(columns)}
    if task.spec.loss == "cosent":
        data["score"] = [example.label for example in task.examples]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=lr,
        warmup_ratio=0.1, weight_decay=0.01, seed=seed, save_strategy="no", report_to=[], logging_steps=steps,
        use_cpu=True, dataloader_drop_last=True, disable_tqdm=True)
    loss = REFERENCE_LOSSES[task.spec.loss](model, scale=task.spec.loss_scale)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(data), loss=loss)
    return trainer.train().metrics["train_samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sts")
    parser.add_argument("--base", default="minilm")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of (ours, theirs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides=[
            f"train.base={args.base}", f"train.output={tmp}", "train.accelerator=cpu", "train.devices=1",
            f"train.batch_size={args.batch_size}", f"train.max_steps={args.steps}",
            f"train.tasks.{args.task}.batch_size={args.batch_size}", f"train.tasks.{args.task}.max_steps={args.steps}",
            f"train.checkpoint_every={args.steps * 10}", "train.precision=32-true"])
        params = settings.params.train
        task = read_train_tasks.fn([args.task], params, settings.data_root)[0]
        task = mine_negatives.fn(task, params.base, settings.data_root, settings.cache_dir)
        rounds = []
        for n in range(args.repeats):
            ours = train_model.fn([task], params, Path(tmp) / f"ours{n}")["samples_per_second"]
            reference = theirs(task, params.base, args.batch_size, args.steps, params.lr, params.max_seq_length,
                               params.seed, Path(tmp) / f"theirs{n}")
            rounds.append((ours, reference))
    print(f"task {args.task}, base {args.base}, batch {args.batch_size}, {args.steps} steps, CPU, "
          f"{args.repeats} alternating rounds")
    for n, (ours, reference) in enumerate(rounds, 1):
        print(f"round {n}: embedlab {ours:8.2f}  sentence-transformers {reference:8.2f} samples/s  "
              f"ratio {ours / reference:.3f}")
    ours, reference = (statistics.median(side) for side in zip(*rounds))
    print(f"{'embedlab (Lightning), median':<40} {ours:10.2f} samples/s")
    print(f"{'sentence-transformers trainer, median':<40} {reference:10.2f} samples/s")
    print(f"{'ratio of medians ours/theirs':<40} {ours / reference:10.3f}")


if __name__ == "__main__":
    main()
