"""Task files that follow common layouts: delimiters, a row filter, text joined from columns, mteb's protocols."""

from __future__ import annotations

import json

import pytest

from conftest import DATA_ROOT, write
from embedlab.errors import DataError, UserError
from embedlab.eval_tasks.loading import load_task
from embedlab.eval_tasks.mteb_tasks import to_mteb_task
from embedlab.eval_tasks.registry import read_task_file
from embedlab.flows.evaluate import EvaluateRequest, evaluate
from test_eval_inputs import run_cli

NEWS = ("split;title;description;topic\n"
        "TRAIN;Stocks rally;Markets rose on Monday.;business\n"
        "TEST;Cup final;The home side won 2-1.;sport\n"
        "TEST;Rates held;The bank kept rates unchanged.;business\n"
        "TRAIN;Derby day;A late goal settled it.;sport\n")


def test_a_filter_a_delimiter_and_a_text_template_read_a_split_column_layout(tmp_path):
    write(tmp_path / "news.txt", NEWS)
    task = write(tmp_path / "tasks.yaml", """
tasks:
  - name: News
    type: clustering
    files:
      test:
        path: news.txt
        delimiter: ";"
        filter: {split: TEST}
        columns: {text: "{title}. {description}", label: topic}
""")
    loaded = load_task(read_task_file(task)[0], tmp_path)
    assert loaded.data["test"] == {"text": ["Cup final. The home side won 2-1.", "Rates held. The bank kept rates unchanged."],
                                   "label": ["sport", "business"]}


def test_templates_and_filters_read_jsonl_and_files_without_a_header(tmp_path):
    write(tmp_path / "rows.jsonl", "".join(json.dumps(r) + "\n" for r in [
        {"q": "a", "b": "x", "y": 1, "part": "dev"}, {"q": "c", "b": "z", "y": 0, "part": "test"},
        {"q": "e", "b": "w", "y": 1, "part": "test"}]))
    write(tmp_path / "rows.tsv", "a\tx\t1\ttest\nc\tz\t0\tdev\n")
    task = write(tmp_path / "tasks.yaml", """
tasks:
  - name: FromJson
    type: clustering
    files: {test: {path: rows.jsonl, filter: {part: test}, columns: {text: "{q} / {b}", label: y}}}
  - name: NoHeader
    type: clustering
    files: {test: {path: rows.tsv, header: false, filter: {3: [test, other]}, columns: {text: "{0}-{1}", label: 2}}}
""")
    first, second = read_task_file(task)
    assert load_task(first, tmp_path).data["test"] == {"text": ["c / z", "e / w"], "label": ["0", "1"]}
    assert load_task(second, tmp_path).data["test"] == {"text": ["a-x"], "label": ["1"]}


@pytest.mark.parametrize("layout, expected", [
    ("{path: news.txt}", "set format (csv, tsv or jsonl) or delimiter"),
    ("{path: news.csv, format: jsonl, delimiter: ';'}", "delimiter applies to csv/tsv files"),
    ("{path: news.csv, delimiter: ';;'}", "at most 1 character"),
])
def test_a_layout_that_cannot_be_read_is_a_one_line_error_naming_the_field(tmp_path, layout, expected):
    task = write(tmp_path / "tasks.yaml", f"tasks:\n  - name: N\n    type: clustering\n    files: {{test: {layout}}}\n")
    with pytest.raises(UserError, match="files.test") as error:
        read_task_file(task)
    assert expected in str(error.value)


def test_a_filter_that_keeps_nothing_or_names_no_column_is_an_error(tmp_path):
    write(tmp_path / "news.csv", NEWS.replace(";", ","))
    spec = read_task_file(write(tmp_path / "t.yaml", """
tasks:
  - {name: N, type: clustering, files: {test: {path: news.csv, filter: {split: DEV}, columns: {text: title, label: topic}}}}
  - {name: M, type: clustering, files: {test: {path: news.csv, filter: {part: DEV}, columns: {text: title, label: topic}}}}
"""))
    with pytest.raises(DataError, match=r"news.csv: file has no data rows after the filter \{'split': 'DEV'\}"):
        load_task(spec[0], tmp_path)
    with pytest.raises(DataError, match=r"news.csv:1: header has no column 'part' \(column 'filter'\)"):
        load_task(spec[1], tmp_path)


def test_an_empty_label_is_an_error_naming_file_and_line(tmp_path):
    write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,\n")
    spec = read_task_file(write(tmp_path / "t.yaml", """
tasks:
  - {name: C, type: classification, files: {train: {path: train.csv}, test: {path: train.csv}}}
"""))[0]
    with pytest.raises(DataError, match=r"train.csv:3: column 'label' is empty"):
        load_task(spec, tmp_path)


def test_protocol_parameters_reach_mteb_and_belong_to_their_task_type(tmp_path):
    write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    files = "{train: {path: train.csv}, test: {path: train.csv}}"
    spec = read_task_file(write(tmp_path / "t.yaml", f"""
tasks:
  - {{name: C, type: classification, files: {files}, protocol: {{samples_per_label: 16, n_experiments: 3}}}}
"""))[0]
    task = to_mteb_task(load_task(spec, tmp_path))
    assert (task.samples_per_label, task.n_experiments) == (16, 3)
    default = to_mteb_task(load_task(spec.model_copy(update={"protocol": type(spec.protocol)()}), tmp_path))
    assert (default.samples_per_label, default.n_experiments) == (8, 10)  # mteb's defaults for the type
    with pytest.raises(UserError, match="protocol.n_clusters applies to clustering tasks, not classification"):
        read_task_file(write(tmp_path / "bad.yaml", f"""
tasks:
  - {{name: C, type: classification, files: {files}, protocol: {{n_clusters: 3}}}}
"""))


def test_two_tasks_of_one_mteb_task_keep_their_own_names_and_both_score(project, tiny_model):
    sts = write(project / "sts.tsv", "a man plays a guitar\ta man is playing guitar\t4.8\n"
                                     "a dog runs\ta cat sleeps\t0.5\nthe sky is blue\tthe sky is clear\t3.2\n")
    short = write(project / "short.tsv", "kids play football\tchildren play soccer\t4.1\na\tb\t0.2\nc d\tc e\t2.5\n")
    layout = "header: false, columns: {sentence1: 0, sentence2: 1, score: 2}"
    task_file = write(project / "tasks.yaml", f"""
tasks:
  - {{name: MySTS, type: sts, mteb_task: STSBenchmark, files: {{test: {{path: {sts.name}, {layout}}}}}}}
  - {{name: MyOtherSTS, type: sts, mteb_task: STSBenchmark, files: {{test: {{path: {short.name}, {layout}}}}}}}
""")
    results = evaluate(EvaluateRequest(model=str(tiny_model), task_files=[str(task_file)], output="out", track=False))
    assert list(results) == ["MySTS", "MyOtherSTS"]
    assert results["MySTS"]["cosine_pearson"] != results["MyOtherSTS"]["cosine_pearson"]  # each scored its own file


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_banking77_as_a_plain_task_file_reproduces_mteb(tmp_path):
    """MTEB's Banking77Classification protocol is mteb's classification default (8 per label, 10 experiments)."""
    task_file = write(tmp_path / "banking.yaml", f"""
tasks:
  - name: MyBanking
    type: classification
    protocol: {{samples_per_label: 8, n_experiments: 10}}
    files:
      train: {{path: {DATA_ROOT / 'banking77' / 'train.csv'}, columns: {{text: text, label: category}}}}
      test: {{path: {DATA_ROOT / 'banking77' / 'test.csv'}, columns: {{text: text, label: category}}}}
""")
    result = run_cli("evaluate", "--model", "minilm", "--task-file", str(task_file), "--json", "--no-track",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["MyBanking"]["main_score"] == pytest.approx(0.8004, abs=5e-4)
