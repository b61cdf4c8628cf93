"""The plumbing every command shares (`embedlab.cli.app`, `embedlab.cli.checks`): its settings with one-line user
errors, the results-table output, the towers check."""

from __future__ import annotations

import pytest
import typer

from conftest import TINY_VIT, write
from embedlab.cli.app import command_settings, echo_table
from embedlab.cli.checks import require_towers
from embedlab.errors import UserError


def test_command_settings_apply_params_then_overrides_then_the_commands_options(tmp_path):
    params = write(tmp_path / "params.yaml", "sql:\n  top_k: 3\n  max_turns: 4\n")
    with command_settings(params, ["sql.max_turns=2"], {"sql.top_k": 7, "sql.seed": None}) as settings:
        chosen = settings.params.sql
        assert (chosen.top_k, chosen.max_turns, chosen.seed) == (7, 2, 0)  # None leaves the default seed 0


@pytest.mark.parametrize("overrides, raised, expected", [
    (["sql.top_k=zero"], None, "sql.top_k: Input should be a valid integer"),  # reading the settings
    ([], "the pre-flight check failed", "error: the pre-flight check failed"),  # a check inside the block
])
def test_a_user_error_in_command_settings_ends_the_command_in_one_line(tmp_path, capsys, overrides, raised,
                                                                       expected):
    params = write(tmp_path / "params.yaml", "sql:\n  top_k: 3\n")
    with pytest.raises(typer.Exit) as stopped:
        with command_settings(params, overrides):
            raise UserError(raised)
    assert stopped.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err


def test_echo_table_prints_the_table_then_the_report_relative_to_the_working_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    echo_table({"table": "| variant | R@1 |\n| a | 0.5 |", "outputs": {"report.md": str(tmp_path / "t" / "report.md"),
                                                                     "metrics.json": str(tmp_path / "t" / "m.json")}})
    assert capsys.readouterr().out == "| variant | R@1 |\n| a | 0.5 |\n-> t/report.md\n"


def test_require_towers_resolves_named_towers_and_accepts_configs(tmp_path, tiny_model):
    require_towers(str(tiny_model), TINY_VIT)  # a model folder and a tower built from scratch
    with pytest.raises(UserError, match=r"model path '/nowhere/tower' does not exist"):
        require_towers(TINY_VIT, "/nowhere/tower")
