"""MLLM triplets (paper 6): templates, pair drawing from a rank window, captions from the dataset or an
MLLM (loopback server, tiny in-process captioner), the flow on the 1,000 Flickr8k images, and bad input. Random
pairs (the default) against the authors' sampling: tests/test_cir_fidelity.py."""

from __future__ import annotations

import json
import shutil

import mlflow
import pytest
import torch
from typer.testing import CliRunner

from conftest import DATA_ROOT, write
from embedlab.cli import app
from embedlab.errors import DataError
from embedlab.flows.generate import GenerateRequest, generate_triplets
from embedlab.tasks.generate.triplets import clean_caption, draw_triplets, modification_text, read_captions
from generation_helpers import ChatServer, build_tiny_captioner, chat_reply

FLICKR = DATA_ROOT / "image_text" / "flickr8k_1000"
runner = CliRunner()


@pytest.fixture
def five_images(tmp_path):
    """Five Flickr8k images copied to a temp folder, with a captions file of two captions each."""
    folder = tmp_path / "images"
    folder.mkdir()
    sources = sorted((FLICKR / "images").glob("*.jpg"))[:5]
    for path in sources:
        shutil.copy(path, folder / path.name)
    rows = "".join(f"{p.name},Picture {i} first .\n{p.name},Picture {i} second .\n" for i, p in enumerate(sources))
    write(tmp_path / "captions.txt", "image,caption\n" + rows)
    return folder


def test_templates_read_as_sentences():
    assert clean_caption("A dog , running on the man 's lawn .") == "a dog, running on the man's lawn"
    assert clean_caption("NASA rocket launch") == "NASA rocket launch"
    assert modification_text("{c2} instead of {c1}", "A cat sleeps .", "A dog runs .") == "A dog runs instead of a cat sleeps"
    assert modification_text("Unlike {c1}, I want {c2}", "A cat .", "A dog .") == "Unlike a cat, I want a dog"
    assert modification_text("{c2}", "A cat .", "a dog .") == "A dog"


def test_pairs_come_from_the_rank_window_deterministically():
    torch.manual_seed(0)
    features = torch.nn.functional.normalize(torch.randn(30, 8), dim=1)
    names = [f"{i}.jpg" for i in range(30)]
    captions = [f"caption {i}" for i in range(30)]
    captions[7] = None  # an uncaptioned image is neither reference nor target
    args = (names, captions, features, (3, 6), 2, ["{c2} instead of {c1}", "{c2}"], 1)
    rows = draw_triplets.fn(*args)
    assert rows == draw_triplets.fn(*args) and rows != draw_triplets.fn(*args[:-1], 2)
    assert len(rows) == 29 * 2 and all(3 <= row["rank"] <= 6 for row in rows)
    assert "7.jpg" not in {row["reference"] for row in rows} | {row["target"] for row in rows}
    keep = [i for i in range(30) if i != 7]
    sims = features[keep] @ features[keep].T
    for row in rows:
        i, j = keep.index(int(row["reference"][:-4])), keep.index(int(row["target"][:-4]))
        assert i != j and row["similarity"] == pytest.approx(float(sims[i, j]), abs=1e-5)
        assert int((sims[i] > sims[i, j]).sum()) == row["rank"]  # self (1.0) plus rank-1 closer neighbours
        assert row["modifications"] == [modification_text(t, row["reference_caption"], row["target_caption"])
                                        for t in args[5]]  # every template, in order


def test_pairs_with_the_same_caption_are_skipped():
    features = torch.nn.functional.normalize(torch.eye(4) + 0.1, dim=1)
    rows = draw_triplets.fn(list("abcd"), ["A dog .", "a dog", "A cat .", "A bird ."], features, (1, 3), 3,
                            ["{c2}"], 0)
    assert {(row["reference"], row["target"]) for row in rows} == {
        ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "a"), ("c", "b"), ("c", "d"), ("d", "a"), ("d", "b"),
        ("d", "c")}


def test_captions_file_gives_the_chosen_caption_or_a_data_error(five_images):
    images = sorted(five_images.iterdir())
    assert read_captions.fn(five_images.parent / "captions.txt", images, 1)[0] == "Picture 0 second ."
    with pytest.raises(DataError, match=r"has 2 captions, caption_index is 2"):
        read_captions.fn(five_images.parent / "captions.txt", images, 2)
    bad = write(five_images.parent / "bad.txt", "file,text\nx.jpg,hello\n")
    with pytest.raises(DataError, match="expected the header 'image,caption'"):
        read_captions.fn(bad, images, 0)


def test_flickr8k_with_human_captions_gives_one_triplet_per_image(project):
    result = runner.invoke(app, ["generate", "triplets"])
    assert result.exit_code == 0, result.output
    out = project / "data" / "generated" / "triplets.jsonl"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1000 and len({row["reference"] for row in rows}) == 1000
    assert all(row["reference"] != row["target"] and "rank" not in row for row in rows)  # random pairs
    assert all((FLICKR / "images" / row["target"]).is_file() and len(row["modifications"]) == 3 for row in rows)
    first = rows[0]
    assert first["reference_caption"] == "A child in a pink dress is climbing up a set of stairs in an entry way ."
    assert first["modifications"][2] == clean_caption(first["target_caption"])[:1].upper() + \
        clean_caption(first["target_caption"])[1:]  # the template "{c2}"
    assert "1000 rows -> data/generated/triplets.jsonl" in result.stdout
    [run] = mlflow.search_runs(experiment_names=["embedlab"], output_format="list")
    assert run.data.metrics["generate/rows"] == 1000 and run.data.params["rank_window"] == "None"


def test_mllm_captions_from_a_chat_server_with_one_refusal(project, five_images):
    answers = iter(["A red car .", "I'm sorry", "", "A tall tree .", "Two dogs ."])

    def respond(request, attempt):
        assert request["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
        return chat_reply(next(answers))

    with ChatServer(respond) as server:
        overrides = ["generate.mllm.model=vlm", f"generate.mllm.base_url={server.url}", "generate.mllm.concurrency=1",
                     "generate.triplets.rank_window=[1, 2]", "generate.triplets.encoder=pixels"]
        summary = generate_triplets(GenerateRequest(overrides=[f"generate.triplets.images={five_images}",
                                                               "generate.triplets.captions=mllm", *overrides],
                                                    track=False))
    assert summary["rejected"] == {"caption": 1} and summary["calls"] == 5 and summary["images"] == 5
    assert summary["rows"] == 4  # every captioned image is a reference once ("I'm sorry" is kept as a caption)


def test_mllm_captions_from_a_tiny_transformers_captioner(project, five_images, tmp_path):
    model = build_tiny_captioner(tmp_path / "captioner")
    overrides = [f"generate.triplets.images={five_images}", "generate.triplets.captions=mllm",
                 "generate.mllm.kind=transformers", f"generate.mllm.model={model}", "generate.mllm.max_tokens=6",
                 "generate.mllm.device=cpu", "generate.triplets.pairs_per_image=2"]  # random pairs
    summary = generate_triplets(GenerateRequest(overrides=overrides, track=False))
    assert summary["calls"] == 5 and summary["completion_tokens"] > 0
    rows = [json.loads(line) for line in (project / "data" / "generated" / "triplets.jsonl").read_text().splitlines()]
    assert len(rows) == summary["rows"] > 0 and all(row["reference_caption"] for row in rows)


def test_cli_reports_bad_input_in_one_line(project, five_images):
    cases = [(["--images", "no/such/dir"], "image folder"),
             (["--images", str(five_images), "--captions", "missing.txt"], "captions file"),
             (["--images", str(five_images), "--captions", "mllm"], "generate.mllm.model is not set"),
             (["--images", str(five_images), "-S", "generate.triplets.rank_window=[0, 3]"], "rank_window"),
             (["--images", str(five_images), "-S", "generate.triplets.rank_window=[1, 5]"], "folder holds 5 images")]
    for args, message in cases:
        result = runner.invoke(app, ["generate", "triplets", "--no-track", *args])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
