"""The `crossmodal_retrieval` evaluation task type (papers 4 and 7): a split of a versioned image–caption dataset
(`embedlab crossmodal prepare`), scored for a dual encoder with Recall@1/5/10 per language and direction, their
means, and MRV. `main_score` is `mean_recall` (greater is better) or `mrv` (lower is better)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TASK_TYPE = "crossmodal_retrieval"


class CrossModalEvalSpec(BaseModel):
    """One cross-modal retrieval task: `dataset` folder (relative to the project), its `split`, the `languages`
    whose captions (each image's first per language) are queries and gallery."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Flickr8kMulti30kRetrieval"
    type: Literal["crossmodal_retrieval"] = TASK_TYPE
    dataset: str = "data/crossmodal"
    split: Literal["train", "val", "test"] = "test"
    languages: list[str] = Field(default_factory=lambda: ["en", "de", "fr", "cs"], min_length=1)
    main_score: Literal["mean_recall", "mrv"] = "mean_recall"
    description: str = "Flickr8k photos with Multi30K en/de/fr/cs captions: image-text Recall@K per language, MRV."

    @property
    def greater_is_better(self) -> bool:
        return self.main_score != "mrv"
