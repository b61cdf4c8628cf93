"""SciFact claims (Wadden et al. 2020, "Fact or Fiction: Verifying Scientific Claims") as verification items.

The Hugging Face export of SciFact (`scifact/hf_claims/claims_<split>.csv`) has one row per (claim, evidence
document, evidence set): `id`, `claim`, `evidence_doc_id`, `evidence_label` (SUPPORT, CONTRADICT, or empty for a
claim without evidence), `evidence_sentences` (sentence numbers in numpy's repr, e.g. `[2 5]`), `cited_doc_ids`.
One item per claim id from its labelled rows; a claim whose rows disagree in label is skipped (and counted).
Use the validation split: its claims are BEIR SciFact's test queries; `claims_test.csv` has no labels, and the
train split is for training.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from embedlab.errors import DataError

LABELS = ("SUPPORT", "CONTRADICT")
COLUMNS = ("id", "claim", "evidence_doc_id", "evidence_label", "evidence_sentences")
_NUMPY_LIST = re.compile(r"\[\s*((?:\d+\s*)*)\]")


@dataclass(frozen=True)
class Claim:
    """One claim to verify: its label and the labelled evidence documents (first-seen order) with their evidence
    sentence numbers (`sentences[i]` belongs to `evidence[i]`)."""

    claim_id: str
    text: str
    label: str
    evidence: tuple[str, ...]
    sentences: tuple[tuple[int, ...], ...]


@dataclass
class ClaimSet:
    """The items of a claims file, and the ids of the claims skipped because their rows disagree in label."""

    items: list[Claim]
    skipped: list[str] = field(default_factory=list)


def parse_numpy_list(text: str) -> tuple[int, ...]:
    """`[2 5]` (numpy's repr of an integer array; also `[ 5152028 11705328]`, `[]`) -> (2, 5); ValueError else."""
    found = _NUMPY_LIST.fullmatch(text.strip())
    if found is None:
        raise ValueError(text)
    return tuple(int(n) for n in found.group(1).split())


def read_claims(path: Path) -> ClaimSet:
    """The labelled claims of a SciFact claims CSV (see the module's docstring), in file order.

    DataError naming the file (and line, field) for a missing column, an unknown label, an unreadable
    `evidence_sentences`, or a file without a single labelled row."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "claims file does not exist") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not UTF-8 text (byte {exc.start})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(path, f"missing column {', '.join(repr(c) for c in missing)} (expected columns "
                              f"{', '.join(COLUMNS)})", 1)
    rows: dict[str, list[tuple[str, str, str, tuple[int, ...]]]] = {}
    for row in reader:
        line = reader.line_num
        label = row["evidence_label"].strip()
        if not label:
            continue
        if label not in LABELS:
            raise DataError(path, f"evidence_label {label!r}: expected SUPPORT, CONTRADICT or empty", line)
        try:
            sentences = parse_numpy_list(row["evidence_sentences"])
        except ValueError:
            raise DataError(path, f"evidence_sentences {row['evidence_sentences']!r}: expected a list of "
                                  "sentence numbers such as [2 5]", line) from None
        if not row["claim"].strip() or not row["evidence_doc_id"].strip():
            raise DataError(path, "a labelled row needs a non-empty claim and evidence_doc_id", line)
        rows.setdefault(row["id"].strip(), []).append((row["claim"], label, row["evidence_doc_id"].strip(),
                                                       sentences))
    if not rows:
        raise DataError(path, "no labelled claims (evidence_label SUPPORT or CONTRADICT); the test split of "
                              "SciFact has none: use claims_validation.csv")
    found = ClaimSet([])
    for claim_id, group in rows.items():
        if len({label for _, label, _, _ in group}) > 1:
            found.skipped.append(claim_id)
            continue
        evidence: dict[str, list[int]] = {}
        for _, _, doc, sentences in group:
            kept = evidence.setdefault(doc, [])
            kept += [s for s in sentences if s not in kept]
        found.items.append(Claim(claim_id, group[0][0], group[0][1], tuple(evidence),
                                 tuple(tuple(s) for s in evidence.values())))
    return found


def sample_claims(items: list[Claim], sample: int | None, seed: int) -> list[Claim]:
    """A plain (not stratified) seeded random sample of `sample` items, in file order; all for None or more."""
    if sample is None or sample >= len(items):
        return list(items)
    chosen = set(random.Random(seed).sample(range(len(items)), sample))
    return [item for i, item in enumerate(items) if i in chosen]
