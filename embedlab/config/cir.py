"""The `train_cir` section of params.yaml: composed image retrieval (paper 6, SPN4CIR; `embedlab cir train`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from embedlab.config.section import Section
from embedlab.config.trainer import TrainerSettings
from embedlab.models.cir import COMBINERS
from embedlab.registry import name_check

CIR_STAGES = ("1", "2", "both")


class TripletSourceParams(Section):
    """`train_cir.triplets`: where the (reference, modification, target) triplets come from.

    `format`: `generated` (`embedlab generate triplets`), `fashioniq` (`cap.<category>.<split>.json`) or `cirr`
    (`cap.rc2.<split>.json`; `image_names` is its `split.rc2.<split>.json`). `path` starts from the project folder
    (or is absolute); `images` and `image_names` lie under data_root. FashionIQ images are `<asin><image_suffix>`.
    """

    format: Literal["generated", "fashioniq", "cirr"] = "generated"
    path: str = "data/generated/triplets.jsonl"
    images: str = "image_text/flickr8k_1000/images"
    image_names: str | None = None
    image_suffix: str = ".png"

    @model_validator(mode="after")
    def _check(self) -> TripletSourceParams:
        if self.format == "cirr" and not self.image_names:
            raise ValueError("format 'cirr' needs image_names (the split.rc2.<split>.json that maps names to files)")
        return self


class TrainCirParams(TrainerSettings):
    """`train_cir`: a composed-query model on triplets, trained in stage 1, stage 2 or both (`embedlab cir train`).

    The towers are the dual encoder's (`train_crossmodal`'s kinds of `image_tower` and `text_tower`); `combiner`
    names one of `embedlab.models.cir.COMBINERS`: `sum` (query = normalise(f_img(reference) + f_txt(text))) or `mlp`
    (a learned residual on the sum). `combiner_inputs`: `raw` feeds it the towers' unnormalised projections, as
    the authors' code (BUAADreamer/SPN4CIR, clip4cir/models.py `CIRPlus.element_wise_sum`); `normalized`
    L2-normalises both first (this project's earlier reading of the paper, kept to measure the difference).
    Triplets are split by reference image (`test_fraction` of the references held out, seeded). Every variant
    trains `max_steps` steps of `batch_size` triplets: `both` gives the last `stage2_share` of them to stage 2.
    Stage 1: InfoNCE against the batch's targets at `stage1_temperature`. Stage 2: the image tower frozen, its
    features of every training image precomputed (the static bank, cached by the tower's weights), InfoNCE
    against the whole bank at `stage2_temperature` (τ = 0.02 in the paper). `exclude_reference` leaves each
    query's reference image out of its negatives, as evaluation leaves it out of the gallery; off by default, as
    the authors' code keeps the reference in the bank (clip4cir/models.py, `extract_bank_features`). `lr` trains the
    projections, the combiner and a from-config image tower (`image_lr`: a pretrained one); `text_lr` the text
    backbone unless `freeze_text` locks it (its features of every modification text are computed once).
    `freeze_image` locks the image backbone (the pretrained `effnet-lite0` by default, LiT-style): stage 1 then
    trains the image projection on the backbone's features of every image, computed once and cached, and stage
    2's bank is that projection of the same features; `unlock_image_after: N` lets stage 1 train the backbone from
    its step N (pixels every step). A dict `image_tower` builds a vision model from scratch (`profile: scratch`:
    the 64 px ViT of the earlier tables, trained).
    `profile: full` selects the paper-scale towers of `profiles.full` for GPUs. The trainer fields are
    `TrainerSettings`'; this section's defaults differ where declared below.
    """

    triplets: TripletSourceParams = Field(default_factory=TripletSourceParams)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    stage: Literal["1", "2", "both"] = "both"
    stage2_share: float = Field(0.5, gt=0, lt=1)
    combiner: Annotated[str, AfterValidator(name_check(COMBINERS))] = "sum"
    combiner_inputs: Literal["raw", "normalized"] = "raw"
    image_tower: str | dict[str, Any] = "effnet-lite0"
    text_tower: str = "minilm"
    embedding_dim: int = Field(256, gt=0)
    max_seq_length: int = Field(64, gt=0)
    freeze_text: bool = True
    freeze_image: bool = Field(True, description="lock the image backbone (LiT; its features are computed once)")
    unlock_image_after: int | None = Field(None, ge=0, description="stage-1 step from which the backbone trains")
    batch_size: int = Field(32, gt=1)
    max_steps: int = Field(200, gt=1)
    lr: float = Field(3e-4, gt=0)
    image_lr: float | None = Field(None, gt=0)
    text_lr: float = Field(3e-5, gt=0)
    stage1_temperature: float = Field(0.07, gt=0)
    stage2_temperature: float = Field(0.02, gt=0)
    exclude_reference: bool = False
    eval_batch_size: int = Field(64, gt=0)
    output: str = "results/cir"
    checkpoint_every: int = Field(100, gt=0)

    @field_validator("stage", mode="before")
    @classmethod
    def _stage_as_text(cls, value: Any) -> Any:
        """`stage: 1` in YAML (or `-S train_cir.stage=1`) reads as the number; the variants are named by text."""
        return str(value) if isinstance(value, int) else value

    def stage_steps(self, stage: str) -> dict[int, int]:
        """Steps per training stage of variant `stage` ('1', '2' or 'both'): the same `max_steps` in total."""
        if stage == "both":
            second = max(1, min(self.max_steps - 1, round(self.max_steps * self.stage2_share)))
            return {1: self.max_steps - second, 2: second}
        return {int(stage): self.max_steps}
