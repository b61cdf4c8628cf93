"""Generation and answer refinement (EasyRAG §8, `src/easyrag/custom/template.py`).

The context is the reranked chunks, `"### 文档{i}: {text}"` (i = 0..5; the English template says "Document"),
separated by blank lines, put into the QA template (`{context_str}`, `{query_str}`). Refinement
(`ans_refine_type`): `none` (0); `integrate` (1): the integration prompt (`{context_str}` = the top-1 chunk,
`{answer_str}` = the draft) asks the LLM to merge more of the top-1 chunk into the draft; `append_top1` (2, the
paper's best, 96.65): the top-1 chunk's text appended to the draft. `chat(messages) -> text` is the one call to
an LLM (the caller wraps a back-end of the project's registry and its response cache).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from embedlab.models.generation.backend import BackendError

Chat = Callable[[list[tuple[str, str]]], str]
REFINEMENTS = ("none", "integrate", "append_top1")


def context_string(passages: Sequence[str], label: str = "文档") -> str:
    return "\n\n".join(f"### {label}{i}: {text}" for i, text in enumerate(passages))


def fill(template: str, **fields: str) -> str:
    """The template with each `{name}` replaced (plain replacement: the prompts hold no other braces' meaning)."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", value)
    return template


def _reply(chat: Chat, prompt: str) -> str:
    text = chat([("user", prompt)]).strip()
    if not text:
        raise BackendError("the LLM answered with an empty reply (after the back-end's retries)")
    return text


def generate_answer(chat: Chat, qa_template: str, merge_template: str, query: str, passages: Sequence[str],
                    refine: str = "none", label: str = "文档") -> str:
    """The answer to `query` from `passages` (best first), refined as `refine` says."""
    draft = _reply(chat, fill(qa_template, context_str=context_string(passages, label), query_str=query))
    if refine == "none" or not passages:
        return draft
    if refine == "append_top1":
        return f"{draft}\n\n{passages[0]}"
    return _reply(chat, fill(merge_template, context_str=passages[0], query_str=query, answer_str=draft))
