"""The Database Retriever's acceptance check: on Spider dev's `column = 'text'` gold conditions whose value is
stored verbatim, a perturbed value (case, a dropped word, an abbreviation) gets the stored value as its top-1
suggestion in >= 90 % of cases (the real MiniLM; minutes on 2 cores, hence slow)."""

from __future__ import annotations

import pytest

from conftest import DATA_ROOT
from embedlab.models.encoder import fingerprint, load_encoder
from embedlab.models.sql.mismatch import equality_literals, perturbations
from embedlab.models.sql.retriever import DatabaseRetriever
from embedlab.models.sql.spider import database_path, read_examples, read_tables
from embedlab.tasks.sql import open_database

SPIDER = DATA_ROOT / "spider"


@pytest.mark.slow
def test_perturbed_literals_get_the_stored_value_first(tmp_path):
    model = load_encoder("minilm", "cpu")
    retriever = DatabaseRetriever(lambda texts: model.encode(texts, batch_size=128, normalize_embeddings=True),
                                  fingerprint(model), tmp_path)
    schemas = read_tables(SPIDER / "tables.json")
    databases, hits, total, case_hits, case_total = {}, 0, 0, 0, 0
    for example in read_examples(SPIDER / "dev.json"):
        if example.db_id not in databases:
            databases[example.db_id] = open_database(database_path(SPIDER / "database", example.db_id),
                                                     schemas[example.db_id])
        database = databases[example.db_id]
        for literal in equality_literals(schemas[example.db_id], example.sql):
            if not retriever.exists(database, literal.table, literal.column, "=", literal.value):
                continue
            for kind, changed in perturbations(literal.value):
                top = retriever.suggest(database, literal.table, literal.column, changed)[0][0]
                hits, total = hits + (top == literal.value), total + 1
                if kind in ("lower", "title"):
                    case_hits, case_total = case_hits + (top == literal.value), case_total + 1
    assert total > 400 and hits / total >= 0.90
    assert case_hits == case_total
