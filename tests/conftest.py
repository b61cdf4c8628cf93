"""Shared fixtures: a tiny BERT sentence encoder built from config, and small task files on disk."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Nothing of the tests lands in the developer's Prefect home: commands run as subprocesses get a temporary one.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="embedlab-tests-prefect-")

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("EMBEDLAB_DATA_ROOT", REPO.parent / "shared" / "data"))
# An image tower built from this config (`ImageTower.build`): one 32-wide ViT layer on 32x32 images, seconds on CPU.
TINY_VIT = {"model_type": "vit", "image_size": 32, "patch_size": 16, "hidden_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(autouse=True, scope="session")
def prefect_harness():
    """Flows run in the test process report to one temporary Prefect server and database for the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(autouse=True)
def restore_environment():
    """Each test starts from the session's environment and MLflow tracking URI: code under test sets some (MLflow's
    global tracking URI, the training run id that DDP children inherit), which must not reach the next test."""
    saved = dict(os.environ)
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)
    os.environ.clear()
    os.environ.update(saved)


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide BERT with MiniLM's tokenizer, mean pooling and normalisation, to `folder`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from embedlab.models.model_source import bundled_minilm_path

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    raw = folder / "hf"
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(32, "mean"), Normalize()], device="cpu")
    model.save(str(folder / "st"))
    return folder / "st"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Path of a saved tiny sentence-transformers model (seconds to evaluate on CPU)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """An empty project folder as cwd, with the real data root, MLflow in a temp SQLite file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMBEDLAB_DATA_ROOT", str(DATA_ROOT))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def small_tasks(tmp_path) -> Path:
    """A task file with one small task of each type, files in csv, tsv and jsonl."""
    return write_small_tasks(tmp_path / "small")


def write_small_tasks(root: Path) -> Path:
    """Write the files of `small_tasks` under `root`; returns the task file."""
    write(root / "sts.tsv", "a man plays a guitar\ta man is playing guitar\t4.8\n"
                            "a dog runs\ta cat sleeps\t0.5\nthe sky is blue\tthe sky is clear\t3.2\n"
                            "kids play football\tchildren play soccer\t4.1\n")
    write(root / "corpus.jsonl", "".join(
        f'{{"_id": "d{i}", "title": "", "text": "{t}"}}\n' for i, t in enumerate(
            ["guitars have six strings", "dogs are loyal pets", "the sun is a star", "soccer is football"])))
    write(root / "queries.jsonl", '{"_id": "q1", "text": "how many strings on a guitar"}\n'
                                  '{"_id": "q2", "text": "what is the sun"}\n')
    write(root / "qrels.tsv", "query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td2\t1\n")
    labelled = "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in [
        ("my card was declined", "card"), ("card not working", "card"), ("lost my card", "card"),
        ("transfer money abroad", "transfer"), ("send money to a friend", "transfer"), ("wire funds", "transfer")])
    write(root / "train.csv", labelled)
    write(root / "test.csv", labelled)
    write(root / "pairs.csv", "s1,s2,y\na cat,a kitten,1\na car,a banana,0\nhello,hi,1\nred,seven,0\n")
    return write(root / "tasks.yaml", """
tasks:
  - name: TinySTS
    type: sts
    files: {test: {path: sts.tsv, header: false, columns: {sentence1: 0, sentence2: 1, score: 2}}}
  - name: TinyRetrieval
    type: retrieval
    files:
      corpus: {path: corpus.jsonl}
      queries: {path: queries.jsonl}
      qrels: {path: qrels.tsv}
  - name: TinyClassification
    type: classification
    files: {train: {path: train.csv}, test: {path: test.csv}}
  - name: TinyClustering
    type: clustering
    files: {test: {path: test.csv}}
  - name: TinyPairs
    type: pair_classification
    files: {test: {path: pairs.csv, columns: {sentence1: s1, sentence2: s2, label: y}}}
""")
