"""params.yaml is read once per command: the CLI validates it and hands the flow typed `Settings` in its request;
a flow started from Python or a deployment reads a params file itself. A command's own options are typed values
set over the settings (no `-S key=value` strings built from them)."""

from __future__ import annotations

import sys

import pytest
from prefect import flow
from pydantic import ValidationError
from typer.testing import CliRunner

from conftest import DATA_ROOT, REPO, write
from embedlab.cli import app
from embedlab.config import Settings, load_settings
from embedlab.config.request import SettingsRequest
from embedlab.errors import UserError

OPENED: list[str] | None = None  # params.yaml opens while a test listens (an audit hook cannot be removed)


def _listen(event: str, args: tuple) -> None:
    if OPENED is not None and event == "open" and str(args[0]).endswith("params.yaml"):
        OPENED.append(str(args[0]))


sys.addaudithook(_listen)


@flow(name="settings-echo")
def settings_echo(request: SettingsRequest) -> dict:
    """The settings a flow resolves from its request, after Prefect has taken the request as a parameter."""
    settings = request.resolve_settings()
    return {"data_root": str(settings.data_root), "base": settings.params.train.base,
            "project_dir": str(settings.project_dir)}


def test_a_command_reads_params_yaml_once(project, small_tasks):
    global OPENED
    write(project / "params.yaml", f"evaluate:\n  tasks: []\n  task_files: [{small_tasks}]\n")
    OPENED = []
    try:
        result = CliRunner().invoke(app, ["prepare"])
    finally:
        opened, OPENED = OPENED, None
    assert result.exit_code == 0, result.output
    assert (project / "data" / "prepared" / "TinySTS").is_dir()
    assert opened == ["params.yaml"]  # the pre-flight read it (relative to the working folder); the flow did not


def test_the_flow_takes_the_validated_settings_through_prefect(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBEDLAB_DATA_ROOT", raising=False)
    params = write(tmp_path / "project" / "params.yaml", "data_root: ../data\ntrain:\n  base: some/model\n")
    settings = load_settings(params)
    params.unlink()  # a flow handed the settings never opens the file
    echoed = settings_echo(SettingsRequest(settings=settings))
    assert echoed == {"data_root": str(tmp_path / "data"), "base": "some/model",
                      "project_dir": str(tmp_path / "project")}


def test_a_request_without_settings_reads_its_params_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_DATA_ROOT", str(DATA_ROOT))
    params = write(tmp_path / "params.yaml", "train:\n  base: from-file\n")
    request = SettingsRequest(params_file=str(params), overrides=["train.seed=7"])
    settings = request.resolve_settings({"train.base": "typed", "train.alpha": None})
    assert (settings.params.train.base, settings.params.train.seed, settings.params.train.alpha) == ("typed", 7, 0.5)
    assert settings.data_root == DATA_ROOT.resolve()
    params.unlink()
    with pytest.raises(UserError, match="does not exist"):
        request.resolve_settings()


def test_a_request_takes_settings_or_a_params_file_not_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    with pytest.raises(ValidationError, match="not both"):
        SettingsRequest(settings=settings, overrides=["train.seed=1"])


def test_typed_values_win_over_params_yaml_profiles_and_set(tmp_path):
    params = write(tmp_path / "params.yaml", "train:\n  base: file\n  profile: p\n  profiles:\n"
                                             "    p: {base: profile, lr: 0.5}\n")
    settings = load_settings(params, ["train.base=set"])
    assert (settings.params.train.base, settings.params.train.lr) == ("set", 0.5)
    typed = settings.with_values({"train.base": "typed", "train.sampling": None})
    assert (typed.params.train.base, typed.params.train.lr, typed.params.train.sampling) == ("typed", 0.5,
                                                                                             "proportional")
    assert settings.params.train.base == "set"  # the settings a command holds do not change under it
    assert typed.project_dir == settings.project_dir and typed.params_file == settings.params_file


def test_a_typed_path_stays_the_exact_string(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    odd = str(tmp_path / "a: b #c" / "[x].txt")  # YAML would read `-S key=<this>` as a mapping, then a comment
    settings = load_settings(None).with_values({"generate.sentences.source": odd})
    assert settings.params.generate.sentences.source == odd


def test_a_wrong_typed_value_names_its_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=r"^train\.alpha: Input should be greater than 0 \(got -1\.0\)$"):
        load_settings(None).with_values({"train.alpha": -1.0})


def test_a_wrong_value_of_a_command_option_ends_in_one_line(project):
    write(project / "params.yaml", "train:\n  tasks: {}\n")
    result = CliRunner().invoke(app, ["train", "--joint", "--sampling", "sideways"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: train.sampling: Input should be 'proportional', 'uniform' or 'temperature' (got 'sideways')"]


def test_settings_are_plain_data():
    """What a flow request carries reads back as the same settings from JSON (a deployment's parameters)."""
    settings = load_settings(REPO / "params.yaml")
    assert Settings.model_validate_json(settings.model_dump_json()) == settings
