"""The `generate` section of params.yaml: LLM/MLLM back-ends, ICL sentences, MLLM triplets."""

from __future__ import annotations

import string

from pydantic import Field, model_validator

from embedlab.config.section import Section
from embedlab.models.generation.backend import BackendSpec


class SentencesParams(Section):
    """`generate.sentences`: ICL hierarchical sentences (paper 9, NGCSE). Paths: `source` under data_root,
    `prompt` and `output` under the project. The first `n` distinct source lines of at least `min_words`
    words are used; each reply must give `levels` samples, level 1 the most similar to the source."""

    source: str = "simcse/wiki1m_for_simcse_first11914.txt"
    n: int = Field(100, gt=0)
    min_words: int = Field(5, gt=0)
    levels: int = Field(3, ge=2, description="similarity levels per sentence [open in the paper]")
    prompt: str = "prompts/hierarchical_sentences.txt"
    output: str = "data/generated/sentences.jsonl"


TRIPLET_TEMPLATES = ["{c2} instead of {c1}", "Unlike {c1}, I want {c2}", "{c2}"]


class TripletsParams(Section):
    """`generate.triplets`: MLLM triplets (paper 6, SPN4CIR). `images` and a `captions` file lie under data_root;
    `captions: mllm` captions every image with `generate.mllm` instead. Each image is the reference of
    `pairs_per_image` triplets. `rank_window: null` (default) draws their targets at random among the other
    images, the authors' default (BUAADreamer/SPN4CIR, zscir/get_cir_data.py, `--i2i_rank -1`); their CLIP4CIR
    runs draw from similarity ranks 10,000–20,000 of the training images, ranks that a 1,000-image folder does not
    have. `rank_window: [low, high]` draws from the reference's neighbours of those similarity ranks (1 = most
    similar) by the image features of `encoder` (used only with a window; default the ImageNet-pretrained
    `effnet-lite0`, `pixels` a colour/layout baseline without weights). Every pair carries the text of every
    template (training draws one per sample)."""

    images: str = "image_text/flickr8k_1000/images"
    captions: str = "image_text/flickr8k_1000/captions.txt"
    caption_index: int = Field(0, ge=0, description="which of an image's captions in the file (0: the first)")
    caption_prompt: str = "Describe this image in one sentence."
    encoder: str = Field("effnet-lite0", description="with rank_window: a registered image model (effnet-lite0), "
                         "a vision model folder/Hub id, or 'pixels' (colour/layout baseline)")
    batch_size: int = Field(32, gt=0)
    device: str = "auto"
    rank_window: tuple[int, int] | None = None
    pairs_per_image: int = Field(1, gt=0)
    templates: list[str] = Field(default_factory=lambda: list(TRIPLET_TEMPLATES), min_length=1)
    seed: int = 42
    output: str = "data/generated/triplets.jsonl"

    @model_validator(mode="after")
    def _check(self) -> TripletsParams:
        if self.rank_window is not None:
            low, high = self.rank_window
            if not 1 <= low <= high:
                raise ValueError(f"rank_window must be null or [low, high] with 1 <= low <= high, got "
                                 f"{list(self.rank_window)}")
            if high - low + 1 < self.pairs_per_image:
                raise ValueError(f"rank_window {list(self.rank_window)} holds fewer than pairs_per_image "
                                 f"({self.pairs_per_image}) neighbours")
        for template in self.templates:
            try:
                fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ValueError(f"template {template!r}: {exc}") from None
            if "c2" not in fields or not fields <= {"c1", "c2"}:
                raise ValueError(f"template {template!r} must use {{c2}} (the target's caption) and may use {{c1}}")
        return self


class GenerateParams(Section):
    """`generate` section: data generation (`embedlab generate`). `llm` writes sentences, `mllm` captions images
    (used with `triplets.captions: mllm`); replies are cached under `<cache_dir>/generate`."""

    llm: BackendSpec = Field(default_factory=BackendSpec)
    mllm: BackendSpec = Field(default_factory=BackendSpec)
    sentences: SentencesParams = Field(default_factory=SentencesParams)
    triplets: TripletsParams = Field(default_factory=TripletsParams)
