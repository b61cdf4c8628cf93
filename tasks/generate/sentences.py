"""ICL hierarchical sentences (NGCSE, paper 9): prompts from a versioned prompt file, replies parsed and checked.

For each source sentence the LLM writes `levels` samples of decreasing similarity (level 1 a paraphrase, the
last the same topic with a different meaning). A reply is kept only when it gives exactly the levels 1..L as
numbered lines, none empty, none a repeat of another or of the source, and is not a refusal; every other reply
is rejected and counted by reason, never kept. Output rows: {"sentence": str, "levels": [str] * L}.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from string import Template

from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.errors import DataError, UserError
from embedlab.models.generation.backend import Completion, Prompt

ROLES = ("system", "user", "assistant")
REASONS = ("refusal", "malformed", "wrong_levels", "empty", "duplicate")
_HEADER = re.compile(r"^###\s*(\w+)\s*$")
_NUMBERED = re.compile(r"^\s*(?:level\s*)?(\d+)\s*[:.)]\s?(.*)$", re.IGNORECASE)
_REFUSAL = re.compile(r"^\W*(i'?m sorry|i am sorry|sorry\b|i can(?:no|')t|i cannot|i won'?t|i am unable|"
                      r"i'?m unable|as an ai\b)", re.IGNORECASE)


def read_prompt_file(path: Path) -> tuple[tuple[str, str], ...]:
    """The (role, template text) messages of a prompt file; `#` lines are comments.

    DataError unless it has `### role` headers of known roles, ends with a user message holding `$sentence`.
    """
    if not path.is_file():
        raise UserError(f"prompt file {path} does not exist")
    messages: list[tuple[str, list[str]]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            if header.group(1) not in ROLES:
                raise DataError(path, f"unknown role {header.group(1)!r} (known: {', '.join(ROLES)})", number)
            messages.append((header.group(1), []))
        elif not line.startswith("#") and messages:
            messages[-1][1].append(line)
        elif line.strip() and not line.startswith("#"):
            raise DataError(path, "text before the first '### role' header", number)
    chat = tuple((role, "\n".join(lines).strip()) for role, lines in messages)
    if not chat or chat[-1][0] != "user" or "$sentence" not in chat[-1][1]:
        raise DataError(path, "the last message must be '### user' with $sentence in it")
    return chat


def sentence_prompt(template: tuple[tuple[str, str], ...], sentence: str, levels: int) -> Prompt:
    """`template` with $sentence and $levels filled in."""
    values = {"sentence": sentence, "levels": str(levels)}
    return Prompt(tuple((role, Template(text).safe_substitute(values)) for role, text in template))


@task(cache_policy=NO_CACHE)
def read_source_sentences(path: Path, n: int, min_words: int) -> list[str]:
    """The first `n` distinct lines of `path` (stripped) with at least `min_words` words.

    UserError where the file is missing; DataError where it has no usable line.
    """
    if not path.is_file():
        raise UserError(f"source file {path} does not exist")
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            sentence = " ".join(line.split())
            if len(sentence.split()) >= min_words:
                seen.setdefault(sentence)
                if len(seen) == n:
                    break
    if not seen:
        raise DataError(path, f"no line of at least {min_words} words")
    return list(seen)


def _normal(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def parse_levels(reply: Completion, source: str, levels: int) -> tuple[list[str] | None, str | None]:
    """(samples, None) for a valid reply, else (None, reason) with reason one of REASONS.

    Text before the first numbered line (a preamble) is ignored; any other unnumbered text is `malformed`.
    """
    if reply.refusal or _REFUSAL.match(reply.text):
        return None, "refusal"
    numbers, samples = [], []
    for line in reply.text.strip().splitlines():
        numbered = _NUMBERED.match(line)
        if numbered:
            numbers.append(int(numbered.group(1)))
            samples.append(numbered.group(2).strip().strip('"').strip())
        elif line.strip() and numbers:
            return None, "malformed"
    if numbers != list(range(1, len(numbers) + 1)):
        return None, "malformed"
    if len(samples) != levels:
        return None, "wrong_levels"
    if not all(samples):
        return None, "empty"
    normal = [_normal(sample) for sample in samples]
    if len(set(normal)) < levels or _normal(source) in normal:
        return None, "duplicate"
    return samples, None


@task(cache_policy=NO_CACHE)
def check_replies(sentences: list[str], replies: list[Completion], levels: int) -> tuple[list[dict], Counter]:
    """Rows {"sentence", "levels"} of the valid replies, in source order, and the rejections by reason."""
    rows, rejected = [], Counter({reason: 0 for reason in REASONS})
    for sentence, reply in zip(sentences, replies, strict=True):
        samples, reason = parse_levels(reply, sentence, levels)
        if reason:
            rejected[reason] += 1
        else:
            rows.append({"sentence": sentence, "levels": samples})
    return rows, rejected
