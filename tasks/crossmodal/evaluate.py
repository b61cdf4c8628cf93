"""A `crossmodal_retrieval` evaluation task's scores as the evaluation suite's `EvalTaskScore`, so that its report
writer and MLflow recording apply unchanged."""

from __future__ import annotations

from embedlab.eval_tasks.crossmodal import CrossModalEvalSpec
from embedlab.tasks.evaluate import EvalTaskScore


def crossmodal_task_score(spec: CrossModalEvalSpec, scores: dict[str, float], dataset_version: str) -> EvalTaskScore:
    """`scores` from `score_dual_encoder` (with `seconds`) -> an EvalTaskScore whose main score is `spec.main_score`."""
    numbers = {key: value for key, value in scores.items() if key != "seconds"}
    main = numbers[spec.main_score]
    return EvalTaskScore(name=spec.name, main_score_name=spec.main_score, main_score=main,
                     scores={"main_score": main, **numbers}, seconds=scores["seconds"],
                     file_hashes={"dataset": dataset_version})
