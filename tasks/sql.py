"""Units of work of the text-to-SQL agent (paper 3, ToolSQL): the resources one run shares (schemas, MiniLM for
the Retriever, the LLM behind its response cache), answering one question, evaluating a variant on a question
file with a resumable cache of predictions, the EX table, and the Spider-Mismatch-style set (NOT the paper's)."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from embedlab.atomic import atomic_write_text
from embedlab.cache_store import load_json, save_json
from embedlab.config.sql import SqlParams
from embedlab.errors import UserError
from embedlab.hashing import file_sha256
from embedlab.models.generation.backend import Prompt, build_backend, require_model
from embedlab.models.generation.cache import ResponseCache, complete_cached
from embedlab.models.sql.agent import VARIANTS, AgentResult, Chat, ExecutionFeedback, Turn, answer
from embedlab.models.sql.detector import BUILTIN_RULES, ErrorDetector, read_rules
from embedlab.models.sql.execution_match import GoldError, exec_match
from embedlab.models.sql.hardness import LEVELS, hardness
from embedlab.models.sql.mismatch import MismatchExample, equality_literals, rewrite
from embedlab.models.sql.retriever import DatabaseRetriever
from embedlab.models.sql.safe_exec import Limits, open_readonly, run_query
from embedlab.models.sql.spider import Example, Schema, database_path, read_examples, read_tables, schema_from_sqlite
from embedlab.models.sql.tools import Database
from embedlab.tasks.results_table import ResultsTable

TIME_NOTE = ("s/question: wall seconds of the agent loop when the prediction was made. Replies come through the "
             "response cache, so a reply made before (turn 1 is the same prompt in every variant) costs ~0 s: the "
             "variants after the first count only their own extra turns.")
MISMATCH_NOTE = ("The mismatch set is a deterministic Spider-Mismatch-STYLE set built from Spider dev "
                 "(`embedlab sql build-mismatch`), not the paper's Spider-Mismatch, which is unreleased.")


def make_chat(spec: Any, cache_dir: Path) -> Chat:
    """The one place the agent talks to an LLM: `messages` -> reply text through the back-end `spec` names
    (`sql.llm`), every reply stored in the response cache (a rerun costs no calls)."""
    require_model(spec, "sql.llm")
    backend = build_backend(spec, "text", "sql.llm")
    cache = ResponseCache(cache_dir / "generate")

    def chat(messages: list[tuple[str, str]]) -> str:
        [reply], _ = complete_cached(backend, [Prompt(tuple(messages))], cache)
        return reply.text

    chat.identity = backend.identity()  # type: ignore[attr-defined]
    return chat


def limits_of(settings: Any) -> Limits:
    chosen = settings.params.sql.limits
    return Limits(chosen.timeout_s, chosen.max_rows)


def make_tools(settings: Any, variant: str) -> list:
    """The variant's tools: the Retriever (MiniLM through the shared dense search), the Detector (built-in rules
    plus `sql.rules`), execution feedback."""
    sql, limits = settings.params.sql, limits_of(settings)
    tools = []
    for name in VARIANTS[variant]:
        if name == "retriever":
            from embedlab.models.encoder import fingerprint, load_encoder

            model = load_encoder(sql.encoder, "auto")

            def encode(texts: list[str], model=model):
                return model.encode(texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)

            tools.append(DatabaseRetriever(encode, fingerprint(model), settings.cache_dir / "sql_values",
                                           sql.top_k, limits=limits))
        elif name == "detector":
            rules = read_rules(BUILTIN_RULES)
            for extra in sql.rules:
                rules += read_rules(settings.path(extra))
            tools.append(ErrorDetector(rules))
        else:
            tools.append(ExecutionFeedback(limits))
    return tools


def open_database(path: Path, schema: Schema | None = None) -> Database:
    """D for the tools: a read-only connection and the schema (from tables.json, else from the file itself)."""
    connection = open_readonly(path)
    return Database(Path(path), connection, schema or schema_from_sqlite(path))


def read_template(settings: Any) -> str:
    path = settings.path(settings.params.sql.prompt)
    if not path.is_file():
        raise UserError(f"sql.prompt: prompt file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    for field in ("{grammar}", "{schema}", "{question}"):
        if field not in text:
            raise UserError(f"{path}: the prompt must contain {field}")
    return text


def ask(settings: Any, db: Path, question: str, variant: str, chat: Chat) -> tuple[AgentResult, list[tuple]]:
    """Answer `question` over the SQLite file `db`: the agent's result and the rows of its SQL."""
    sql = settings.params.sql
    database = open_database(db)
    result = answer(chat, read_template(settings), sql.system, database, question, make_tools(settings, variant),
                    sql.max_turns)
    rows = run_query(database.connection, result.sql, limits_of(settings)) if result.sql else []
    return result, rows


def load_questions(settings: Any, questions: Path, sample: int | None) -> tuple[list[Example], dict[str, Schema]]:
    """The (seeded sample of the) questions, checked: every db_id has a schema and a database."""
    sql = settings.params.sql
    examples = read_examples(questions)
    schemas = read_tables(settings.data_root / sql.tables)
    database_dir = settings.data_root / sql.database_dir
    for example in examples:
        if example.db_id not in schemas:
            raise UserError(f"{questions}: db_id {example.db_id!r} is not in {settings.data_root / sql.tables}")
        database_path(database_dir, example.db_id)
    if sample is not None and sample < len(examples):
        examples = random.Random(sql.seed).sample(examples, sample)
    return examples, schemas


def _prediction_key(identity: dict, variant: str, template: str, sql: SqlParams, example: Example) -> str:
    payload = {"llm": identity, "variant": variant, "prompt": template, "system": sql.system,
               "max_turns": sql.max_turns, "top_k": sql.top_k, "db": example.db_id, "question": example.question}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@task(cache_policy=NO_CACHE)
def evaluate_variant(sql: SqlParams, template: str, tools: list, database_dir: Path, cache_dir: Path,
                     examples: list[Example], schemas: dict[str, Schema], variant: str, chat: Chat) -> list[dict]:
    """One record per example: prediction, EX (official semantics), hardness, turns, format errors, seconds;
    `template` (`read_template`) and `tools` (`make_tools` of `variant`) drive the agent, the databases lie under
    `database_dir`.

    Each prediction is stored as soon as it is made (`<cache_dir>/sql_predictions`), so an interrupted
    evaluation resumes where it stopped."""
    folder = cache_dir / "sql_predictions"
    databases: dict[str, Database] = {}
    records = []
    for example in examples:
        path = database_path(database_dir, example.db_id)
        key = _prediction_key(chat.identity, variant, template, sql, example)  # type: ignore[attr-defined]
        entry = folder / key[:2] / f"{key}.entry"
        stored = load_json(entry)
        if stored is None:
            database = databases.setdefault(example.db_id, open_database(path, schemas[example.db_id]))
            result = answer(chat, template, sql.system, database, example.question, tools, sql.max_turns)
            stored = result.as_dict()
            save_json(entry, stored)
        try:
            correct = exec_match(path, stored["sql"], example.query, timeout_s=sql.limits.timeout_s * 6)
        except GoldError as exc:
            raise UserError(f"{exc}") from None
        records.append({"variant": variant, "db_id": example.db_id, "question": example.question,
                        "gold": example.query, "sql": stored["sql"], "correct": bool(correct),
                        "hardness": hardness(example.sql) if example.sql else "unknown",
                        "turns": len(stored["turns"]), "format_errors": stored["format_errors"],
                        "seconds": stored["seconds"], "trace": stored["turns"]})
    return records


def summary_row(records: list[dict]) -> dict[str, Any]:
    """EX overall and by hardness, mean turns, format errors, seconds per question."""
    row: dict[str, Any] = {"n": len(records), "EX": sum(r["correct"] for r in records) / max(len(records), 1)}
    for level in LEVELS:
        chosen = [r for r in records if r["hardness"] == level]
        row[f"EX {level}"] = sum(r["correct"] for r in chosen) / len(chosen) if chosen else None
    row["turns"] = sum(r["turns"] for r in records) / max(len(records), 1)
    row["format errors"] = sum(r["format_errors"] for r in records)
    row["s/question"] = sum(r["seconds"] for r in records) / max(len(records), 1)
    return row


def ex_table(rows: dict[str, dict[str, Any]], llm: str, dataset: str) -> ResultsTable:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "variant"
    note = (MISMATCH_NOTE + " " if "mismatch" in dataset else "") + TIME_NOTE
    return ResultsTable(frame, f"Text-to-SQL execution accuracy ({dataset})", "EX",
                        formats={c: ".1%" for c in frame.columns if c.startswith("EX")} |
                        {"turns": ".2f", "s/question": ".1f"},
                        bold_max=["EX"], intro=f"LLM: `{llm}`. EX with the official test-suite-sql-eval semantics.",
                        notes=note)


def stored_literals(schemas: dict[str, Schema], examples: list[Example], database_dir: Path) -> set[tuple[str, str, str]]:
    """(table, column, value) of the gold `column = 'text'` conditions whose value occurs verbatim."""
    found = set()
    connections = {}
    for example in examples:
        if example.sql is None:
            continue
        connection = connections.setdefault(example.db_id, open_readonly(database_path(database_dir, example.db_id)))
        for literal in equality_literals(schemas[example.db_id], example.sql):
            query = f'SELECT 1 FROM "{literal.table}" WHERE "{literal.column}" = ? LIMIT 1'
            if run_query(connection, query, Limits(), (literal.value,)):
                found.add((literal.table.lower(), literal.column.lower(), literal.value))
    return found


@task(cache_policy=NO_CACHE)
def build_mismatch(questions: Path, tables: Path, database_dir: Path, output: Path) -> dict[str, Any]:
    """Write the Spider-Mismatch-style set (a Spider-format JSON list with the rewrite recorded) to `output`, from
    the Spider-format `questions` over the schemas of `tables` and the databases under `database_dir`."""
    examples = read_examples(questions)
    schemas = read_tables(tables)
    stored = stored_literals(schemas, examples, database_dir)
    pairs: list[tuple[MismatchExample, dict]] = [(m, e.sql) for e in examples if e.sql
                                                 for m in [rewrite(e, schemas[e.db_id], stored)] if m]
    rewritten = [m for m, _ in pairs]
    payload = [asdict(m) | {"sql": parse, "note": "Spider-Mismatch-style, not the paper's set"} for m, parse in pairs]
    atomic_write_text(output, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    return {"questions": len(examples), "rewritten": len(rewritten), "output": str(output),
            "kinds": dict(Counter(m.kind for m in rewritten)), "source_sha256": file_sha256(questions)}


def trace_lines(turns: list[Turn] | list[dict]) -> list[str]:
    """The turn-by-turn trace as text: each turn's calls, its SQL and the tools' feedback."""
    lines = []
    for number, turn in enumerate(turns, 1):
        turn = turn if isinstance(turn, dict) else asdict(turn)
        lines.append(f"--- turn {number}")
        lines.extend(turn["reply"].strip().splitlines())
        lines.append(f"SQL: {turn['sql']}" if turn["sql"] else "SQL: (none: format error)")
        lines.extend(f"feedback: {item}" for item in turn["feedback"])
    return lines
