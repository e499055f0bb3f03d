"""The settings table (custseg.settings) is the one declaration of every
option: the command line, the Segmenter, the library functions and the web
app all read it, so none of them can drift."""

from __future__ import annotations

import dataclasses

import click
import pytest

from custseg import Segmenter, pipeline
from custseg.cli import cli
from custseg.errors import ParameterError
from custseg.settings import COMMANDS, DEFAULTS, Settings, options


def _params(command: str) -> dict[str, click.Parameter]:
    found = cli.commands[command]
    return {p.name: p for p in found.params if p.name}


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "app"])
def test_each_command_offers_exactly_the_table_options_with_their_words(command):
    params = _params(command)
    for o in options(command):
        if o.kind == "range":
            for flag, default in zip(o.flags, o.default_in(command), strict=True):
                p = params.pop(flag.lstrip("-").replace("-", "_"))
                assert p.default == default
            continue
        p = params.pop(o.name)
        assert isinstance(p, click.Option)
        assert p.help == o.help_in(command)
        flags = list(o.flags) or [f"--{o.name.replace('_', '-')}"]
        assert p.opts == flags
        if o.kind == "choice":
            assert list(p.type.choices) == list(o.choices)
            assert p.default == o.default_in(command)
    # what is left are the command's own options (output folder, ...), none
    # of which is a setting of the table
    table = {f.name for f in dataclasses.fields(Settings)}
    assert not table & set(params), sorted(table & set(params))


def test_segmenter_parameters_and_defaults_are_the_table_ones():
    seg = Segmenter().get_params()
    table = DEFAULTS.segmenter_params()
    assert set(seg) == set(table)
    assert {k: seg[k] for k in table} == {
        k: list(v) if isinstance(v, tuple) and k != "k_range" else v
        for k, v in table.items()
    }


def test_every_command_line_setting_is_in_the_app_or_says_why_not():
    for command in ("run", "rfm", "compare"):
        for o in options(command):
            assert "app" in o.commands or o.not_in_app, (command, o.name)
            if "app" in o.commands:
                assert o.app_label, o.name


def test_settings_reject_unknown_names_with_a_hint():
    with pytest.raises(ParameterError, match="did you mean 'n_clusters'"):
        Settings().replace(n_cluster=4)
    with pytest.raises(ParameterError, match="unknown setting 'colour'"):
        pipeline.run(colour="red")
    with pytest.raises(ParameterError, match="not one string"):
        Settings(features="Age")


def test_settings_are_hashable_values_whatever_the_caller_wrote():
    a = Settings(features=["Age", "Income"], k_range=[2, 6], id_columns=[])
    b = Settings(features=("Age", "Income"), k_range=(2, 6))
    assert a == b and hash(a) == hash(b)
    assert a.id_columns is None
    assert Settings.for_command("rfm").k_range == (3, 10)
    assert Settings.for_command("run").k_range == (2, 10)
    record = Settings(features=["Age"]).as_record()
    assert record["features"] == ["Age"] and record["k_range"] == [2, 10]


def test_a_run_given_settings_equals_a_run_given_keywords():
    features = ["Annual Income (k$)", "Spending Score (1-100)"]
    by_settings = pipeline.run(
        None, Settings(features=features, n_clusters=4, stability_resamples=0)
    )
    by_keywords = pipeline.run(features=features, n_clusters=4, stability_resamples=0)
    assert (by_settings.labels == by_keywords.labels).all()
    assert by_settings.settings == by_keywords.settings
    assert by_settings.settings["n_clusters"] == 4
