"""SciFact claim verification (`embedlab rag evaluate --claims`): verdicts parsed from hand-made replies, scores
by hand, items built from a hand-made claims CSV, and the whole command on a tiny BEIR-format data root against
a loopback server speaking the OpenAI protocol (scripted replies; the accuracies below are computed by hand), a
rerun after the LLM failed, bad input as one line, and one run with the real SmolLM2 through llama_cpp."""

from __future__ import annotations

import json
import re

import mlflow
import pytest
from typer.testing import CliRunner

from conftest import REPO
from embedlab.cli import app
from embedlab.errors import DataError, quiet_user_errors_in_run_logs
from embedlab.models.rag.claims import Claim, parse_numpy_list, read_claims, sample_claims
from embedlab.models.rag.verify import parse_verdict, score_verdicts
from generation_helpers import ChatServer, chat_reply, error_reply, user_text


@pytest.mark.parametrize("reply, verdict", [
    ("SUPPORT", "SUPPORT"), ("The evidence supports the claim.", "SUPPORT"), ("Supported.", "SUPPORT"),
    ("CONTRADICT", "CONTRADICT"), ("contradicts", "CONTRADICT"), ("It is CONTRADICTED by the trial", "CONTRADICT"),
    ("Answer: contradict. It does not SUPPORT it.", "CONTRADICT"),  # the first occurrence decides
    ("not supported", "SUPPORT"),  # documented: no negation handling
    ("unsupported", None), ("SUPPORTING", None), ("supportive", None),  # word boundaries
    ("I cannot tell.", None), ("", None),
])
def test_verdict_is_the_first_label_word(reply, verdict):
    assert parse_verdict(reply) == verdict


def test_scores_by_hand():
    scores = score_verdicts(["SUPPORT", "SUPPORT", "SUPPORT", "CONTRADICT"], ["SUPPORT", "CONTRADICT", None, "CONTRADICT"])
    # 2 of 4 right; Wilson 95 % for 2/4 is (0.1500, 0.8500); SUPPORT is 3 of 4 labels
    # F1 SUPPORT = 2*1/(1 predicted + 3 actual) = 0.5, CONTRADICT = 2*1/(2 + 1) = 2/3
    assert scores["claims"] == 4 and scores["unparsed"] == 1
    assert scores["accuracy"] == 0.5 and scores["majority_baseline"] == 0.75
    assert (scores["accuracy_low"], scores["accuracy_high"]) == pytest.approx((0.1500, 0.8500), abs=1e-4)
    assert scores["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    minority = score_verdicts(["CONTRADICT", "CONTRADICT", "SUPPORT"], ["CONTRADICT"] * 3)
    assert minority["majority_baseline"] == pytest.approx(2 / 3)
    assert minority["macro_f1"] == pytest.approx((0.0 + 2 * 2 / (3 + 2)) / 2)  # SUPPORT never predicted: F1 0


HEADER = "id,claim,evidence_doc_id,evidence_label,evidence_sentences,cited_doc_ids\n"


def test_items_from_a_hand_made_csv(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + '1,"Claim one, with a comma.",11,SUPPORT,[2 5],[11]\n'
                    '1,"Claim one, with a comma.",11,SUPPORT,[7],[11]\n'
                    '1,"Claim one, with a comma.",12,SUPPORT,[ 0],[11 12]\n'
                    "2,Claim two has no evidence.,,,[],[13]\n"
                    "3,Claim three disagrees.,13,SUPPORT,[1],[13]\n"
                    "3,Claim three disagrees.,14,CONTRADICT,[2],[14]\n"
                    "4,Claim four.,15,CONTRADICT,[3 4],[15]\n", encoding="utf-8")
    found = read_claims(path)
    assert found.items == [Claim("1", "Claim one, with a comma.", "SUPPORT", ("11", "12"), ((2, 5, 7), (0,))),
                           Claim("4", "Claim four.", "CONTRADICT", ("15",), ((3, 4),))]
    assert found.skipped == ["3"]
    assert parse_numpy_list("[ 5152028 11705328]") == (5152028, 11705328) and parse_numpy_list("[]") == ()
    items = [Claim(str(i), "c", "SUPPORT", (), ()) for i in range(10)]
    sample = sample_claims(items, 4, seed=3)
    assert len(sample) == 4 and sample == sorted(sample, key=lambda c: int(c.claim_id))  # file order
    assert sample == sample_claims(items, 4, seed=3) and sample_claims(items, None, 0) == items


def test_the_staged_validation_claims():
    from conftest import DATA_ROOT

    found = read_claims(DATA_ROOT / "scifact" / "hf_claims" / "claims_validation.csv")
    # 338 labelled rows of 188 claims (124 SUPPORT, 64 CONTRADICT), none disagreeing: counted with csv by hand
    assert len(found.items) == 188 and found.skipped == []
    assert sum(c.label == "SUPPORT" for c in found.items) == 124


@pytest.mark.parametrize("text, message", [
    ("id,claim,evidence_doc_id,evidence_sentences\n1,c,2,[1]\n", r"claims.csv:1: missing column 'evidence_label'"),
    (HEADER + "1,c,2,MAYBE,[1],[2]\n", r"claims.csv:2: evidence_label 'MAYBE'"),
    (HEADER + "1,c,2,SUPPORT,[1 x],[2]\n", r"claims.csv:2: evidence_sentences '\[1 x\]'"),
    (HEADER + "1,c,,,[],[2]\n", r"claims.csv: no labelled claims"),
])
def test_bad_claims_files_name_the_line_and_field(tmp_path, text, message):
    (tmp_path / "claims.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_claims(tmp_path / "claims.csv")


DOCS = [("d1", "Vitamin D and bone", "Vitamin D supplements increase bone density in older adults."),
        ("d2", "Aspirin and stroke", "Daily aspirin does not reduce stroke risk in young adults."),
        ("d3", "Coffee and sleep", "Coffee consumption late in the day shortens sleep."),
        ("d4", "Exercise and mood", "Regular exercise improves mood scores.")]
C1, C2, C3 = "Vitamin D increases bone density.", "Aspirin reduces stroke risk in young adults.", "Exercise improves sleep."


@pytest.fixture
def scifact(tmp_path, monkeypatch):
    """A BEIR-format data root (scifact/corpus, queries, qrels, hf_claims) and an empty project as cwd."""
    root = tmp_path / "data" / "scifact"
    (root / "qrels").mkdir(parents=True)
    (root / "hf_claims").mkdir()
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n"
                                               for d, t, x in DOCS), encoding="utf-8")
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": c}) + "\n"
                                                for q, c in (("1", C1), ("2", C2), ("3", C3))), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td2\t1\n3\td3\t1\n",
                                             encoding="utf-8")
    (root / "hf_claims" / "claims_validation.csv").write_text(
        HEADER + f"1,{C1},d1,SUPPORT,[0],[d1]\n2,{C2},d2,CONTRADICT,[0],[d2]\n3,{C3},d3,SUPPORT,[0],[d3]\n"
        "4,Exercise lifts mood.,d4,SUPPORT,[0],[d4]\n4,Exercise lifts mood.,d4,CONTRADICT,[0],[d4]\n"
        "5,An unlabelled claim.,,,[],[d1]\n", encoding="utf-8")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("EMBEDLAB_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def scripted(request, attempt):
    """C1: right with evidence, no label without; C2: right with evidence, SUPPORT without (wrong); C3: SUPPORT
    (right) only where the coffee abstract is in the prompt, and without evidence."""
    text = user_text(request)
    evidence = "### Evidence 0:" in text
    if C1 in text:
        return chat_reply("SUPPORTED, clearly." if evidence else "I cannot say.")
    if C2 in text:
        return chat_reply("It contradicts the claim." if evidence else "The literature supports it.")
    return chat_reply("Support." if not evidence or "shortens sleep" in text else "CONTRADICT")


def evaluate(url, *extra):
    args = ["rag", "evaluate", "--claims", "-o", "out", "-S", "rag.llm.model=scripted", "-S", f"rag.llm.base_url={url}",
            "-S", "rag.llm.max_retries=0", "-S", "rag.claims.passages=1", "-S", "rag.claims.sample=null",
            "-S", f"rag.claims.prompt={REPO / 'prompts' / 'claim_verify_en.txt'}",
            "-S", f"rag.claims.prompt_no_evidence={REPO / 'prompts' / 'claim_verify_none_en.txt'}", *extra]
    return CliRunner().invoke(app, args, catch_exceptions=False)


def test_claims_end_to_end_against_a_scripted_server(scifact):
    with ChatServer(scripted) as server:
        result = evaluate(server.url)
    assert result.exit_code == 0, result.output
    # 3 claims x 3 modes (claim 4 disagrees, claim 5 has no label), less 2: for C1 and C2 the retrieved passage is
    # the gold abstract, so the prompt is the same and its reply comes from the response cache
    assert len(server.requests) == 7
    assert all(r["max_tokens"] == 16 for r in server.requests)
    out = scifact / "project" / "out" / "claims"
    records = [json.loads(line) for line in (out / "claims.jsonl").read_text().splitlines()]
    # BM25 puts the exercise abstract first for C3 ("exercise", "improves" beat "sleep"), the gold one for C1, C2
    assert [r["evidence"] for r in records if r["mode"] == "retrieved"] == [["d1"], ["d2"], ["d4"]]
    metrics = json.loads((out / "metrics.json").read_text())
    retrieved, gold, none = metrics["retrieved evidence"], metrics["gold evidence"], metrics["no evidence"]
    assert (retrieved["accuracy"], gold["accuracy"], none["accuracy"]) == pytest.approx((2 / 3, 1.0, 1 / 3))
    assert (retrieved["unparsed"], gold["unparsed"], none["unparsed"]) == (0, 0, 1)
    assert retrieved["majority_baseline"] == pytest.approx(2 / 3)
    # retrieved: verdicts S, C, C for labels S, C, S: F1 = 2/3 for both; none: None, S, S: F1(S) = 2/4, F1(C) = 0
    assert (retrieved["macro_f1"], gold["macro_f1"], none["macro_f1"]) == pytest.approx((2 / 3, 1.0, 0.25))
    assert retrieved["evidence_recall"] == pytest.approx(2 / 3) and "evidence_recall" not in gold
    assert retrieved["seconds_retrieve"] > 0 and "seconds_retrieve" not in none and none["seconds_generate"] > 0
    assert "1 claims skipped because their rows disagree" in (out / "report.md").read_text()
    run = mlflow.search_runs(experiment_names=["rag"], output_format="list")[0]
    assert run.data.metrics["claims.gold.accuracy"] == 1.0 and run.data.metrics["claims.skipped"] == 1.0
    assert run.data.metrics["claims.none.unparsed"] == 1.0
    assert "| retrieved evidence | 3 | 66.7% |" in result.stdout


def test_a_failed_llm_call_ends_in_one_line_and_the_rerun_continues(scifact):
    down = {"now": True}

    def flaky(request, attempt):
        if down["now"] and C3 in user_text(request) and "### Evidence" not in user_text(request):
            return error_reply(500, "model crashed")  # the last prompt: claim 3 without evidence
        return scripted(request, attempt)

    quiet_user_errors_in_run_logs()  # as `embedlab`'s main does: no Prefect traceback for a user error
    with ChatServer(flaky) as server:
        failed = evaluate(server.url)
        assert failed.exit_code == 2
        lines = failed.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "HTTP 500" in lines[0]
        assert len(server.requests) == 7 and not (scifact / "project" / "out" / "claims").exists()
        down["now"] = False  # the server is back
        again = evaluate(server.url, "--no-track")
        assert again.exit_code == 0, again.output
        assert len(server.requests) == 8  # one more: the 6 replies received before come from the response cache
    metrics = json.loads((scifact / "project" / "out" / "claims" / "metrics.json").read_text())
    assert metrics["no evidence"]["accuracy"] == pytest.approx(1 / 3)
    assert "seconds_generate" not in metrics["gold evidence"]  # every gold-mode reply came from the cache


@pytest.mark.parametrize("setting, message", [
    ("rag.claims.modes=[retreived]", "rag.claims.modes.0: Input should be 'retrieved', 'gold' or 'none'"),
    ("rag.claims.sample=0", "rag.claims.sample: Input should be greater than or equal to 1"),
    ("rag.claims.file=scifact/none.csv", "none.csv: claims file not found (rag.claims.file)"),
])
def test_bad_claim_settings_are_one_line(scifact, setting, message):
    result = evaluate("http://127.0.0.1:9/v1", "-S", setting)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_a_claims_file_without_a_column_is_one_line(scifact):
    path = scifact / "data" / "scifact" / "hf_claims" / "claims_validation.csv"
    path.write_text("id,claim,evidence_doc_id,evidence_sentences\n1,c,d1,[0]\n", encoding="utf-8")
    result = evaluate("http://127.0.0.1:9/v1")
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {path}:1: missing column 'evidence_label' (expected columns id, claim, " \
                                    "evidence_doc_id, evidence_label, evidence_sentences)"


def test_claims_with_the_real_smollm2(scifact):
    """SmolLM2-135M through llama_cpp on the 3 claims: whatever it answers is parsed or counted unparsed."""
    args = ["-S", "rag.llm.kind=llama_cpp", "-S", "rag.llm.model=smollm2", "-S", "rag.llm.n_ctx=2048",
            "-S", "rag.llm.threads=2", "-S", "rag.claims.modes=[retrieved,gold]", "--no-track"]
    result = CliRunner().invoke(app, ["rag", "evaluate", "--claims", "-o", "out", "-S", "rag.claims.passages=1",
                                      "-S", f"rag.claims.prompt={REPO / 'prompts' / 'claim_verify_en.txt'}", *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = scifact / "project" / "out" / "claims"
    records = [json.loads(line) for line in (out / "claims.jsonl").read_text().splitlines()]
    assert len(records) == 6
    labels = {form: "SUPPORT" for form in ("support", "supports", "supported")} | \
        {form: "CONTRADICT" for form in ("contradict", "contradicts", "contradicted")}
    for record in records:  # the first label word, found here with a plain split into words
        words = re.findall(r"[a-z]+", record["reply"].lower())
        assert record["verdict"] == next((labels[w] for w in words if w in labels), None)
    metrics = json.loads((out / "metrics.json").read_text())
    for mode in ("retrieved", "gold"):
        found = [r for r in records if r["mode"] == mode]
        row = metrics[f"{mode} evidence"]
        assert row["unparsed"] == sum(r["verdict"] is None for r in found)
        assert row["accuracy"] == pytest.approx(sum(r["verdict"] == r["label"] for r in found) / 3)
