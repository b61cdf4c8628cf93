"""Every registry of named methods (`embedlab.registry.Registry`), entry by entry, so that a new entry is tested
for free; and methods registered at run time (a merge method, a loss, an objective) running through the real code
paths: `embedlab merge`, a Lightning training, an objective's loss."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field
from safetensors.torch import load_file
from typer.testing import CliRunner

from embedlab.cli import app
from embedlab.config import TrainParams, load_settings
from embedlab.errors import UserError
from embedlab.eval_tasks.spec import FileSpec
from embedlab.models.cir import COMBINERS
from embedlab.models.losses import CSE_OBJECTIVES, LOSSES
from embedlab.models.merging import METHODS
from embedlab.models.merging.base import MergeMethod, MethodParams
from embedlab.models.objectives import OBJECTIVES, build_objective
from embedlab.models.objectives.base import Encoded, Objective, ObjectiveParams
from embedlab.models.tokens import HEADS
from embedlab.registry import Registry
from embedlab.tasks.train import train_encoder
from embedlab.train_tasks import load_train_task
from embedlab.train_tasks.spec import FORMATS, TrainTaskSpec
from merging_helpers import perturbed_copy

REPO = Path(__file__).resolve().parents[1]
REGISTRIES: dict[str, Registry] = {"losses": LOSSES, "cse objectives": CSE_OBJECTIVES, "merge methods": METHODS,
                                   "objectives": OBJECTIVES, "combiners": COMBINERS, "training formats": FORMATS, "decoding heads": HEADS}
ENTRIES = [(family, name) for family, registry in REGISTRIES.items() for name in registry]
runner = CliRunner()


# --- every entry of every registry -------------------------------------------------------------------------

@pytest.mark.parametrize("family, name", ENTRIES)
def test_each_entry_loads_is_documented_and_its_parameters_validate_their_defaults(family, name):
    registry = REGISTRIES[family]
    assert registry.get(name) is registry.get(name)  # imported once, then kept
    assert len(registry.doc(name).split()) >= 5, f"{family} {name!r} has no docstring"
    assert registry.params(name, {}) == registry.params_model(name)()
    with pytest.raises(UserError) as error:
        registry.params(name, {"no_such_parameter": 1})
    assert str(error.value).startswith(f"{registry.kind} {name!r}: no_such_parameter: Extra inputs are not permitted")


@pytest.mark.parametrize("family", REGISTRIES)
def test_an_unknown_name_suggests_the_nearest_and_lists_every_name(family):
    registry = REGISTRIES[family]
    name = registry.names[-1]
    with pytest.raises(UserError) as error:
        registry.get(f"{name}x")
    assert str(error.value) == (f"unknown {registry.kind} '{name}x'; did you mean '{name}'? "
                                f"(known: {', '.join(sorted(registry.names))})")
    assert registry.choices().split(" | ") == list(registry.names)


@pytest.mark.parametrize("command, registry", [(["merge"], METHODS), (["crossmodal", "train"], OBJECTIVES),
                                               (["cse", "run"], CSE_OBJECTIVES)])
def test_help_of_each_name_option_lists_its_choices(command, registry):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert registry.choices() in result.output


def test_listing_the_names_imports_no_torch():
    """`embedlab --help` and reading params.yaml (with its default merge list) stay light: entries load lazily."""
    code = ("import sys; from pathlib import Path; import embedlab.cli; from embedlab.config import load_settings; "
            f"load_settings(Path({str(REPO / 'params.yaml')!r})); "
            "print(sorted(m for m in ('torch', 'sentence_transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]"


def test_loss_options_are_typed_by_the_loss_signature():
    assert LOSSES.params("arccon", {"angular_margin": 0.2}).angular_margin == 0.2
    assert LOSSES.params("hierarchical", {"level_margins": [0.1, 0.2]}).level_margins == [0.1, 0.2]
    with pytest.raises(UserError, match=r"^cse.options: loss 'arccon': angular_margin: Input should be a valid number"):
        LOSSES.params("arccon", {"angular_margin": "wide"}, where="cse.options")


def test_names_in_params_are_checked_against_the_registry_and_name_the_key():
    with pytest.raises(UserError, match=r"train_cir.combiner: Value error, unknown combiner 'mpl'; did you mean 'mlp'"):
        load_settings(REPO / "params.yaml", ["train_cir.combiner=mpl"])
    with pytest.raises(UserError, match=r"train.tasks.sts.format: Value error, unknown training format "
                                        r"'scored_pair'; did you mean 'scored_pairs'"):
        load_settings(REPO / "params.yaml", ["train.tasks.sts.format=scored_pair"])
    assert load_settings(REPO / "params.yaml").params.compare.merges == list(METHODS.names)


def test_lists_of_names_in_params_name_the_key_and_the_nearest_name():
    with pytest.raises(UserError, match=r"sql.variants: Value error, unknown variant 'toolsq'; did you mean "
                                        r"'toolsql'.* \(known: exec_feedback, no_tools, toolsql\)"):
        load_settings(REPO / "params.yaml", ["sql.variants=[no_tools, toolsq]"])
    with pytest.raises(UserError, match=r"kbqa.styles: Value error, unknown prompt style 'sexp'; did you mean 'sexpr'"):
        load_settings(REPO / "params.yaml", ["kbqa.styles=[sexp]"])
    assert load_settings(REPO / "params.yaml", ["sql.variants=[toolsql]"]).params.sql.variants == ["toolsql"]


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="merge method 'ties' is already registered"):
        METHODS.register("ties", METHODS.get("ties"))


# --- methods registered at run time: one definition plus one `register` line -------------------------------

class InterpolateParams(MethodParams):
    """`fraction` of the way from the base to the mean of the fine-tuned models."""

    fraction: float = Field(0.5, ge=0, le=1)


def build_interpolate(params: InterpolateParams):
    def merge(base: torch.Tensor, tuned: list[torch.Tensor], key: str) -> torch.Tensor:
        if not base.is_floating_point():
            return base.clone()
        return base + params.fraction * (torch.stack(list(tuned)).mean(dim=0) - base)
    return merge


@pytest.fixture
def interpolate():
    METHODS.register("interpolate", MergeMethod("interpolate", InterpolateParams, build_interpolate))
    yield
    METHODS.unregister("interpolate")


def test_a_merge_method_registered_at_run_time_runs_through_embedlab_merge(project, tiny_model, interpolate):
    a, b = (perturbed_copy(tiny_model, project / f"tuned{seed}", seed) for seed in (1, 2))
    args = ["merge", "--base", str(tiny_model), "-m", str(a), "-m", str(b), "--no-track", "--out", "merged"]
    result = runner.invoke(app, [*args, "--method", "interpolate", "-S", "fraction=0.25"])
    assert result.exit_code == 0, result.output
    base_w, a_w, b_w = (load_file(folder / "model.safetensors") for folder in (tiny_model, a, b))
    merged_w = load_file(project / "merged" / "model.safetensors")
    assert merged_w.keys() == base_w.keys()
    for key, theta0 in base_w.items():
        expected = theta0 + 0.25 * ((a_w[key] + b_w[key]) / 2 - theta0) if theta0.is_floating_point() else theta0
        assert torch.allclose(merged_w[key], expected, atol=1e-6), key
    result = runner.invoke(app, [*args, "--method", "interpolate", "-S", "fraction=2"])
    assert result.exit_code == 2 and "merge method 'interpolate': fraction: Input should be less than or equal to 1" \
        in result.stderr


def pull(embeddings: list[torch.Tensor], labels: torch.Tensor | None = None, scale: float = 20.0,
         weight: float = 1.0) -> torch.Tensor:
    """L = weight · mean_i ‖a_i − p_i‖²: pulls each anchor onto its positive (a test loss, no negatives)."""
    anchors, positives = embeddings[:2]
    return weight * (anchors - positives).pow(2).sum(dim=1).mean()


@pytest.fixture
def pull_loss():
    LOSSES.register("pull", pull)
    yield
    LOSSES.unregister("pull")


@pytest.mark.parametrize("weight, moves", [(1.0, True), (0.0, False)])
def test_a_loss_registered_at_run_time_trains_with_its_own_options(tmp_path, tiny_model, pull_loss, weight, moves):
    """With weight 0 the loss has no gradient, so Adam (no weight decay) leaves every weight exactly as it was."""
    data = tmp_path / "pairs.csv"
    data.write_text("a,p\na cat,a kitten\na car,an automobile\nhello,hi there\nred,crimson\n", encoding="utf-8")
    spec = TrainTaskSpec(format="pairs", loss="pull", files={"train": FileSpec(
        path=str(data), columns={"anchor": "a", "positive": "p"})})
    task = load_train_task("pull_pairs", spec, tmp_path, seed=0)
    params = TrainParams(base=str(tiny_model), batch_size=4, max_steps=2, lr=1e-3, warmup_ratio=0.0,
                         weight_decay=0.0, accelerator="cpu", max_seq_length=16)
    options = LOSSES.params("pull", {"weight": weight}).model_dump()
    summary = train_encoder([task], params, tmp_path / "out", loss_options={task.name: options})
    assert summary["steps"] == 2
    before = load_file(tiny_model / "model.safetensors")
    after = load_file(tmp_path / "out" / "model" / "model.safetensors")
    changed = [key for key in before if not torch.equal(before[key], after[key])]
    assert bool(changed) == moves, changed


class CosinePullParams(ObjectiveParams):
    """`weight` of the pull."""

    weight: float = Field(1.0, ge=0)


class CosinePull(Objective):
    """L = weight · (1 − mean_{i,k} s(v_i, t_{i,k})): each image pulled towards its own captions (for a test)."""

    Params = CosinePullParams

    def forward(self, batch: Encoded) -> dict[str, torch.Tensor]:
        cosines = F.cosine_similarity(batch.images[:, None, :], batch.texts, dim=-1)  # (B, K)
        return {"loss": self.params.weight * (1 - cosines.mean())}


@pytest.fixture
def cosine_pull():
    OBJECTIVES.register("cosine_pull", CosinePull)
    yield
    OBJECTIVES.unregister("cosine_pull")


def test_an_objective_registered_at_run_time_computes_its_loss(cosine_pull):
    objective = build_objective("cosine_pull", {"weight": 2.0}, image_width=2, text_width=2)
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    texts = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])  # cosines (1, 0) and (1, 1)
    batch = Encoded(images, texts, image_features=images, text_features=texts)
    assert objective(batch)["loss"].item() == pytest.approx(2.0 * (1 - 3 / 4))  # by hand: mean cosine 3/4
    with pytest.raises(UserError, match="objective 'cosine_pull': weight: Input should be greater than or equal to 0"):
        build_objective("cosine_pull", {"weight": -1}, image_width=2, text_width=2)
