"""The inspect-and-regenerate loop of ToolSQL (paper 3) and its baselines, with one LLM.

Turn 1: Y = f_LLM(I, E, S, Q) — the instruction with the call table (I), demonstrations (E, from the prompt
file), the schema (S) and the question (Q). The reply is parsed (`grammar.parse_calls`, never executed) and
rendered to SQL. Every tool of the variant inspects it, ξ = T(D, Q, Y); if any complains, all feedback is
appended as the next user message and the LLM writes the calls again, up to `max_turns` ([open]; 3 by default).
A reply the grammar rejects is a format error: counted, and its message fed back like a tool's.

Variants (`VARIANTS`): `no_tools` (one turn, no feedback), `exec_feedback` (the DBMS-feedback baseline: the
query is run read-only and an execution error is fed back), `toolsql` (Database Retriever + Error Detector,
plus the same execution-error feedback, so it differs from `exec_feedback` by exactly the two tools).
The prediction is the SQL of the last turn that parsed ("" when none did: wrong).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from embedlab.models.sql.grammar import GrammarError, grammar_help, parse_calls
from embedlab.models.sql.render import render
from embedlab.models.sql.safe_exec import Limits, QueryError, run_query
from embedlab.models.sql.tools import Database, Feedback, Tool

VARIANTS = {"no_tools": (), "exec_feedback": ("execution",), "toolsql": ("retriever", "detector", "execution")}
Chat = Callable[[list[tuple[str, str]]], str]  # (role, text) messages -> the reply text


class ExecutionFeedback:
    """Tool of the DBMS-feedback baseline: run the SQL read-only; an error is the feedback."""

    name = "execution"

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def inspect(self, database: Database, question: str, query) -> list[Feedback]:
        try:
            run_query(database.connection, render(query), self.limits)
        except QueryError as exc:
            return [Feedback(self.name, "the whole query", "execution-error", str(exc))]
        return []


@dataclass
class Turn:
    reply: str
    sql: str | None
    feedback: list[str] = field(default_factory=list)
    format_error: bool = False


@dataclass
class AgentResult:
    question: str
    sql: str
    turns: list[Turn]
    seconds: float

    @property
    def format_errors(self) -> int:
        return sum(turn.format_error for turn in self.turns)

    def as_dict(self) -> dict:
        return {**asdict(self), "format_errors": self.format_errors}


def first_message(template: str, database: Database, question: str) -> str:
    """The user message of turn 1: the prompt template filled with the call table, schema and question."""
    return template.format(grammar=grammar_help(), schema=database.schema.describe(), question=question)


def answer(chat: Chat, template: str, system: str, database: Database, question: str, tools: list[Tool],
           max_turns: int) -> AgentResult:
    """Run the loop for one question; `tools` empty is the no-tools baseline (one turn)."""
    started = time.monotonic()
    messages = [("system", system), ("user", first_message(template, database, question))]
    turns: list[Turn] = []
    sql = ""
    for _ in range(max_turns if tools else 1):
        reply = chat(messages)
        messages.append(("assistant", reply))
        try:
            query = parse_calls(reply)
        except GrammarError as exc:
            turns.append(Turn(reply, None, [f"[format] the calls could not be read: {exc}"], True))
        else:
            sql = render(query)
            feedback = [item.text() for tool in tools for item in tool.inspect(database, question, query)]
            turns.append(Turn(reply, sql, feedback))
        if not turns[-1].feedback or not tools:
            break
        messages.append(("user", "Feedback on your calls:\n" + "\n".join(turns[-1].feedback) +
                         "\nWrite the corrected calls for the whole query, one per line, nothing else."))
    return AgentResult(question, sql, turns, time.monotonic() - started)
