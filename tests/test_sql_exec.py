"""Safe execution of untrusted SQL (models/sql/safe_exec.py) and the official EX semantics
(models/sql/execution_match.py, hardness.py): writes and ATTACH refused with the file unchanged, a cartesian
product stopped on time, equivalent rewrites scored correct and value changes wrong."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time

import pytest

from conftest import DATA_ROOT
from embedlab.errors import UserError
from embedlab.models.sql.execution_match import exec_match, remove_distinct, result_eq
from embedlab.models.sql.hardness import hardness
from embedlab.models.sql.safe_exec import Limits, QueryError, execute
from embedlab.models.sql.spider import database_path, read_examples

SPIDER = DATA_ROOT / "spider"


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def tiny_db(tmp_path):
    path = tmp_path / "shop" / "shop.sqlite"
    path.parent.mkdir()
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, country TEXT, price REAL);
        INSERT INTO item VALUES (1, 'Pen', 'United States', 2.5), (2, 'Ink', 'France', 7.0),
                                (3, 'Pad', 'United States', 4.0), (4, 'Cap', 'France', 4.0);
    """)
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("attack", [
    "INSERT INTO item VALUES (9, 'x', 'y', 1)",
    "UPDATE item SET price = 0",
    "DELETE FROM item",
    "DROP TABLE item",
    "CREATE TABLE t (a)",
    "ATTACH DATABASE 'other.sqlite' AS other",
    "PRAGMA query_only = OFF",
    "PRAGMA journal_mode = DELETE",
    "SELECT load_extension('/tmp/evil')",
    "SELECT 1; DROP TABLE item",
    "SELECT 1; SELECT 2",
    "BEGIN IMMEDIATE",
    "VACUUM",
])
def test_writes_and_attach_are_refused_in_one_line_and_the_file_is_unchanged(tiny_db, attack):
    before = sha256(tiny_db)
    with pytest.raises(QueryError) as info:
        execute(tiny_db, attack)
    assert "\n" not in str(info.value) and str(info.value)
    assert sha256(tiny_db) == before
    assert execute(tiny_db, "SELECT count(*) FROM item") == [(4,)]


def test_a_semicolon_inside_a_literal_is_one_statement(tiny_db):
    assert execute(tiny_db, "SELECT count(*) FROM item WHERE name = 'a;b'; -- ; trailing") == [(0,)]


def test_a_cartesian_product_over_the_largest_tables_stops_at_the_time_limit(tmp_path):
    db = tmp_path / "world_1.sqlite"
    shutil.copy(SPIDER / "database" / "world_1" / "world_1.sqlite", db)
    before = sha256(db)
    started = time.monotonic()
    with pytest.raises(QueryError, match="time limit of 0.5 s"):
        execute(db, "SELECT count(*) FROM city AS a, city AS b, countrylanguage AS c", Limits(timeout_s=0.5))
    assert time.monotonic() - started < 3.0
    assert sha256(db) == before


def test_the_row_cap_is_an_error_not_a_silent_cut(tiny_db):
    with pytest.raises(QueryError, match="more than 3 rows"):
        execute(tiny_db, "SELECT * FROM item", Limits(max_rows=3))
    assert len(execute(tiny_db, "SELECT * FROM item", Limits(max_rows=4))) == 4


def test_missing_or_non_sqlite_database_is_one_line(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        execute(tmp_path / "none.sqlite", "SELECT 1")
    (tmp_path / "text.sqlite").write_text("not a database")
    with pytest.raises(UserError, match="is not a SQLite file"):
        execute(tmp_path / "text.sqlite", "SELECT 1")


# --- result_eq against hand-computed verdicts of the official semantics ---

@pytest.mark.parametrize("gold, predicted, order_matters, expected", [
    ([], [], False, True),
    ([(1, "a")], [("a", 1)], False, True),                     # columns permuted
    ([(1,), (2,)], [(2,), (1,)], False, True),                 # bag: order ignored
    ([(1,), (2,)], [(2,), (1,)], True, False),                 # ORDER BY in gold: order counts
    ([(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),    # same set, different bag
    ([(1,)], [(1,), (1,)], False, False),                      # row count
    ([(1, 2)], [(1,)], False, False),                          # column count
    ([(1, 1, 2)], [(1, 2, 1)], False, True),
    ([(1, 2), (3, 4)], [(2, 3), (4, 1)], False, False),        # columns' values mixed across rows
    ([("x", 1, 2, 3)], [(3, 2, 1, "x")], False, True),         # 4 columns
])
def test_result_eq_matches_hand_computed_verdicts(gold, predicted, order_matters, expected):
    assert result_eq(gold, predicted, order_matters) is expected


def test_remove_distinct_leaves_literals_and_names():
    assert remove_distinct("SELECT DISTINCT name FROM t WHERE a = 'distinct'") == "SELECT  name FROM t WHERE a = 'distinct'"
    assert remove_distinct("SELECT count(distinct x) FROM t") == "SELECT count( x) FROM t"


@pytest.mark.parametrize("predicted, expected", [
    ("SELECT country, name FROM item WHERE price > 3", True),           # column order swapped
    ("SELECT DISTINCT name, country FROM item WHERE price > 3", True),  # DISTINCT added
    ("SELECT name, country FROM item WHERE price > 3 ORDER BY name", True),  # ORDER BY where the gold has none
    ("SELECT name, country FROM item WHERE price >= 4.0", True),        # same rows another way
    ("SELECT name, country FROM item WHERE price > 5", False),          # value changed
    ("SELECT name, country FROM item WHERE price > 3 AND country = 'USA'", False),
    ("SELECT name FROM item WHERE price > 3", False),                   # a column missing
    ("SELECT name, country FROM itemz", False),                         # does not run
])
def test_equivalent_rewrites_are_correct_and_value_changes_wrong(tiny_db, predicted, expected):
    assert exec_match(tiny_db, predicted, "SELECT name, country FROM item WHERE price > 3") is expected


def test_order_counts_only_when_the_gold_orders(tiny_db):
    gold = "SELECT name FROM item ORDER BY price DESC, name"
    assert exec_match(tiny_db, "SELECT name FROM item ORDER BY price DESC, name", gold)
    assert not exec_match(tiny_db, "SELECT name FROM item ORDER BY price, name", gold)
    assert exec_match(tiny_db, "SELECT name FROM item ORDER BY price, name", "SELECT name FROM item")


def test_a_literal_is_used_as_written(tiny_db):
    gold = "SELECT count(*) FROM item WHERE country = 'United States'"
    assert exec_match(tiny_db, "SELECT count(*) FROM item WHERE country = 'United States'", gold)
    assert not exec_match(tiny_db, "SELECT count(*) FROM item WHERE country = 'united states'", gold)


def test_spider_dev_rewrites_on_a_real_database():
    db = database_path(SPIDER / "database", "concert_singer")
    gold = "SELECT name, country, age FROM singer ORDER BY age DESC"
    assert exec_match(db, "SELECT name, country, age FROM singer ORDER BY age DESC", gold)
    assert not exec_match(db, "SELECT name, country, age FROM singer ORDER BY age", gold)
    gold = "SELECT count(*) FROM singer WHERE country = 'France'"
    assert exec_match(db, "SELECT count(*) FROM singer WHERE country = 'France'", gold)
    assert not exec_match(db, "SELECT count(*) FROM singer WHERE country = 'france'", gold)


@pytest.mark.slow
@pytest.mark.parametrize("name, total", [("dev.json", 1034), ("spider_realistic/spider-realistic.json", 508)])
def test_gold_against_gold_is_all_correct(name, total):
    examples = read_examples(SPIDER / name)
    assert len(examples) == total
    assert sum(exec_match(database_path(SPIDER / "database", e.db_id), e.query, e.query) for e in examples) == total


def test_hardness_levels_of_dev_match_the_published_split():
    """Spider dev's published split by hardness: easy 248, medium 446, hard 174, extra 166."""
    counts = {}
    for example in read_examples(SPIDER / "dev.json"):
        level = hardness(example.sql)
        counts[level] = counts.get(level, 0) + 1
    assert counts == {"easy": 248, "medium": 446, "hard": 174, "extra": 166}
