"""Training samples/s of embedlab's Lightning trainer vs sentence-transformers' own trainer, same task and batches.

    python benchmarks/train_throughput.py [--task sts] [--base minilm] [--batch-size 32] [--steps 20] [--repeats 3]

Both fine-tune the same base with the same loss, batch size, number of steps, learning rate, sequence length and
seed, on the CPU, in this one process (so with the same torch threads), and see the same batches: the
sentence-transformers trainer reads the examples in the order embedlab's data module draws them (a sequential
batch sampler over that order), so both pad and compute exactly the same tokens. Everything else is each side's
user default: embedlab writes its `last.ckpt` at the end and logs every 5 steps; sentence-transformers (Hugging
Face `Trainer`) writes its final checkpoint (`save_strategy="steps"`), clips gradients to norm 1.0 and uses fused
AdamW. Neither tracks to MLflow or shows a progress bar. Each side's samples/s counts its training loop, final
checkpoint included (Lightning: train start to end; Hugging Face: its `train_samples_per_second`).

The two alternate for `--repeats` rounds, so that a burst of load from elsewhere hits both alike; prints each
round with the 1-minute load average, the medians, and ours/theirs (goal: >= 1.0).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
from pathlib import Path

from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import CoSENTLoss, MultipleNegativesRankingLoss
from torch.utils.data import BatchSampler, SequentialSampler

from embedlab.config import load_settings
from embedlab.models.data_module import TaskMixDataModule
from embedlab.models.embedding_module import build_encoder
from embedlab.tasks.train import mine_negatives, read_train_tasks, train_model

REFERENCE_LOSSES = {"mnrl": MultipleNegativesRankingLoss, "cosent": CoSENTLoss}


def our_order(task, batch_size: int, steps: int, seed: int) -> list[int]:
    """Indices of `task.examples` in the order embedlab's data module trains on them: `steps` batches, flattened."""
    data = TaskMixDataModule({task.name: task.examples}, tokenize=None, batch_size=batch_size, seed=seed)
    batches = itertools.islice(iter(data.train_dataloader().batch_sampler), steps)
    return [index for batch in batches for index in batch]


def in_order(dataset, batch_size: int, drop_last: bool, **_) -> BatchSampler:
    """sentence-transformers' `batch_sampler` hook: the dataset's rows in their stored order."""
    return BatchSampler(SequentialSampler(dataset), batch_size, drop_last)


def theirs(task, order: list[int], base: str, batch_size: int, steps: int, lr: float, seq: int, seed: int,
           out: Path) -> float:
    model = build_encoder(base, max_seq_length=seq)
    examples = [task.examples[index] for index in order]
    columns = list(zip(*(example.texts for example in examples)))
    data = {f"text{i}": list(column) for i, column in enumerate(columns)}
    if task.spec.loss == "cosent":
        data["score"] = [example.label for example in examples]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=lr,
        warmup_ratio=0.1, weight_decay=0.01, seed=seed, report_to=[], use_cpu=True, dataloader_drop_last=True,
        disable_tqdm=True, batch_sampler=in_order)
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
            "train.precision=32-true"])
        params = settings.params.train
        task = read_train_tasks.fn([args.task], params, settings.data_root)[0]
        task = mine_negatives.fn(task, params.base, settings.data_root, settings.cache_dir)
        lr = task.spec.lr or params.lr
        order = our_order(task, args.batch_size, args.steps, params.seed)
        rounds = []
        for n in range(args.repeats):
            ours = train_model.fn([task], params, Path(tmp) / f"ours{n}")["samples_per_second"]
            reference = theirs(task, order, params.base, args.batch_size, args.steps, lr, params.max_seq_length,
                               params.seed, Path(tmp) / f"theirs{n}")
            rounds.append((ours, reference, os.getloadavg()[0]))
    print(f"task {args.task}, base {args.base}, batch {args.batch_size}, {args.steps} steps, lr {lr}, CPU "
          f"({os.cpu_count()} cores), {args.repeats} alternating rounds, the same batches on both sides")
    for n, (ours, reference, load) in enumerate(rounds, 1):
        print(f"round {n}: embedlab {ours:8.2f}  sentence-transformers {reference:8.2f} samples/s  "
              f"ratio {ours / reference:.3f}  (load {load:.1f})")
    ours, reference = (statistics.median(side) for side in list(zip(*rounds))[:2])
    print(f"{'embedlab (Lightning), median':<40} {ours:10.2f} samples/s")
    print(f"{'sentence-transformers trainer, median':<40} {reference:10.2f} samples/s")
    print(f"{'ratio of medians ours/theirs':<40} {ours / reference:10.3f}")


if __name__ == "__main__":
    main()
