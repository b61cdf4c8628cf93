"""Streaming merges through safetensors folders built by hand: sub-folder modules, integer buffers, errors."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file

from embedlab.errors import UserError
from embedlab.models.merging import METHODS
from embedlab.models.merging.folder import local_folder, write_merged_folder
from embedlab.models.merging.weights import tensor_index


def model_folder(path, scale, position_ids=True):
    """A top-level transformer file (with BERT-style position ids where asked) and a Dense module sub-folder."""
    top = {"encoder.weight": torch.full((2, 3), scale), "encoder.bias": torch.full((3,), scale, dtype=torch.bfloat16)}
    if position_ids:
        top["embeddings.position_ids"] = torch.arange(4).unsqueeze(0)
    (path / "2_Dense").mkdir(parents=True)
    save_file(top, path / "model.safetensors", metadata={"format": "pt"})
    save_file({"linear.weight": torch.full((3, 3), scale)}, path / "2_Dense" / "model.safetensors")
    (path / "modules.json").write_text("[]")
    (path / "2_Dense" / "config.json").write_text("{}")
    return path


def test_every_file_and_sub_folder_is_merged_and_integer_tensors_are_the_base_s(tmp_path):
    base = model_folder(tmp_path / "base", 0.0)
    tuned = [model_folder(tmp_path / "a", 1.0, position_ids=False), model_folder(tmp_path / "b", 3.0)]
    # top-level file first; inside a file, byte order (safetensors stores wider dtypes first)
    assert list(tensor_index(base)) == ["embeddings.position_ids", "encoder.weight", "encoder.bias",
                                        "2_Dense/linear.weight"]
    out = tmp_path / "out"
    out.mkdir()
    assert write_merged_folder(base, tuned, METHODS.get("average").build(METHODS.params("average", {})), out) == 4
    top, dense = load_file(out / "model.safetensors"), load_file(out / "2_Dense" / "model.safetensors")
    assert torch.equal(top["encoder.weight"], torch.full((2, 3), 2.0))
    assert top["encoder.bias"].dtype == torch.bfloat16 and torch.equal(top["encoder.bias"].float(), torch.full((3,), 2.0))
    assert torch.equal(top["embeddings.position_ids"], torch.arange(4).unsqueeze(0))
    assert torch.equal(dense["linear.weight"], torch.full((3, 3), 2.0))
    assert (out / "modules.json").is_file() and (out / "2_Dense" / "config.json").is_file()
    assert load_file(base / "model.safetensors")["encoder.weight"].sum() == 0  # the base file is untouched


def test_a_missing_or_extra_tensor_and_pickled_weights_are_one_line_errors(tmp_path):
    base = model_folder(tmp_path / "base", 0.0)
    other = model_folder(tmp_path / "other", 1.0)
    save_file({"linear.weight": torch.ones(3, 3), "linear.bias": torch.ones(3)}, other / "2_Dense" / "model.safetensors")
    merge = METHODS.get("average").build(METHODS.params("average", {}))
    with pytest.raises(UserError, match=rf"^architectures differ: {other} has tensor '2_Dense/linear.bias', which "):
        write_merged_folder(base, [other], merge, tmp_path / "out")
    with pytest.raises(UserError, match=r"^architectures differ: tensor '2_Dense/linear.bias' of the base is missing"):
        write_merged_folder(other, [base], merge, tmp_path / "out2")
    (base / "2_Dense" / "model.safetensors").unlink()
    (base / "2_Dense" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(UserError, match="holds its weights in pytorch_model.bin only"):
        tensor_index(base)


def test_a_hub_id_resolves_to_its_cached_snapshot_offline(tmp_path, monkeypatch):
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny"
    model_folder(repo / "snapshots" / revision, 1.0)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert local_folder("someone/tiny") == repo / "snapshots" / revision
    with pytest.raises(UserError, match="cannot fetch model 'someone/other' from the Hugging Face Hub"):
        local_folder("someone/other")
