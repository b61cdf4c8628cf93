"""The Database Retriever of ToolSQL (paper 3): condition mismatches that raise no error.

For every WHERE / HAVING condition `column = | != | like 'literal'` (text literals, also in sub-queries) the
tool checks whether the literal occurs in its column (`like` with SQLite's LIKE). If it does not, the column's
distinct cells are ranked by embedding similarity to the literal (SimCSE in the paper; MiniLM here, through the
shared exact dense search, `embedlab.models.retrieval.dense`), and the `top_k` most similar ([open] in the
paper; 5 by default) come back as feedback. Each column's value index (its distinct cells, at most
`max_values`, and their unit vectors, (N, D) float32) is cached on disk under
`<cache_dir>/<db sha256>/<encoder fingerprint>/<table>.<column>.entry`, so a changed database or encoder is never
read stale and an unchanged one is encoded once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from embedlab.cache_store import load_arrays, save_arrays
from embedlab.hashing import file_sha256
from embedlab.models.retrieval.dense import DenseRetriever
from embedlab.models.sql.grammar import Query
from embedlab.models.sql.render import identifier
from embedlab.models.sql.safe_exec import Limits, QueryError, run_query
from embedlab.models.sql.tools import Database, Feedback, all_queries, condition_call, from_tables, resolve

CHECKED_OPS = ("=", "!=", "like", "not like")
Encode = Callable[[list[str]], np.ndarray]  # texts -> (N, D) float32


class ValueIndex:
    """The distinct cells of one column and a dense retriever over their embeddings."""

    def __init__(self, values: list[str], vectors: np.ndarray) -> None:
        self.values = values
        self.retriever = DenseRetriever.build(vectors, normalize=True) if values else None

    def nearest(self, query_vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The `k` cells most similar to the (1, D) `query_vector`, best first, with cosine similarities."""
        if self.retriever is None:
            return []
        ids, scores = self.retriever.search(query_vector, k)
        return [(self.values[int(i)], float(s)) for i, s in zip(ids[0], scores[0], strict=True)]


class DatabaseRetriever:
    """Tool: literals that match no stored value get the column's most similar cells as feedback."""

    name = "retriever"

    def __init__(self, encode: Encode, encoder_id: str, cache_dir: Path, top_k: int = 5,
                 max_values: int = 20_000, limits: Limits = Limits()) -> None:
        self.encode, self.encoder_id, self.cache_dir = encode, encoder_id, Path(cache_dir)
        self.top_k, self.max_values, self.limits = top_k, max_values, limits
        self._indexes: dict[tuple[str, str, str], ValueIndex] = {}
        self._hashes: dict[Path, str] = {}

    def value_index(self, database: Database, table: str, column: str) -> ValueIndex:
        """The column's value index, from memory, the disk cache, or built (then stored)."""
        digest = self._hashes.setdefault(database.path, file_sha256(database.path))
        key = (digest, table.lower(), column.lower())
        if key in self._indexes:
            return self._indexes[key]
        path = self.cache_dir / digest / self.encoder_id / f"{table.lower()}.{column.lower()}.entry"
        stored = load_arrays(path)
        if stored is not None:
            index = ValueIndex([str(v) for v in stored["values"]], stored["vectors"])
        else:
            rows = run_query(database.connection,
                             f"SELECT DISTINCT CAST({identifier(column)} AS TEXT) FROM {identifier(table)} "
                             f"WHERE {identifier(column)} IS NOT NULL LIMIT {self.max_values}", self.limits)
            values = sorted({str(row[0]) for row in rows if str(row[0]).strip()})
            vectors = (np.asarray(self.encode(values), dtype=np.float32) if values
                       else np.zeros((0, 1), dtype=np.float32))
            save_arrays(path, {"values": np.array(values, dtype=str), "vectors": vectors})
            index = ValueIndex(values, vectors)
        self._indexes[key] = index
        return index

    def suggest(self, database: Database, table: str, column: str, literal: str) -> list[tuple[str, float]]:
        """The `top_k` stored cells of `table.column` most similar to `literal`, best first."""
        index = self.value_index(database, table, column)
        return index.nearest(np.asarray(self.encode([literal]), dtype=np.float32), self.top_k)

    def exists(self, database: Database, table: str, column: str, op: str, literal: str) -> bool:
        test = "LIKE" if "like" in op else "="
        sql = f"SELECT 1 FROM {identifier(table)} WHERE {identifier(column)} {test} ? LIMIT 1"
        try:
            return bool(run_query(database.connection, sql, self.limits, (literal,)))
        except QueryError:
            return True  # the column cannot be read as written: the Error Detector reports that

    def inspect(self, database: Database, question: str, query: Query) -> list[Feedback]:
        feedback = []
        for sub in all_queries(query):
            tables = from_tables(sub)
            for kind, conditions in (("add_where", sub.where), ("add_having", sub.having)):
                for condition in conditions:
                    if condition.op not in CHECKED_OPS or not isinstance(condition.value, str):
                        continue
                    column = resolve(database.schema, tables, condition.expr.left)
                    if column is None or condition.expr.right is not None or condition.expr.left.agg:
                        continue
                    if self.exists(database, column.table, column.name, condition.op, condition.value):
                        continue
                    probe = condition.value.strip("%") if "like" in condition.op else condition.value
                    cells = [value for value, _ in self.suggest(database, column.table, column.name, probe)]
                    feedback.append(Feedback(
                        self.name, condition_call(kind, condition), "value-not-in-column",
                        f"the value {condition.value!r} does not occur in {column.table}.{column.name}; "
                        "its most similar stored values are listed", tuple(repr(cell) for cell in cells)))
        return feedback
