"""The engine interface: the stages, their order, and the engines behind it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from tests.conftest import INCOME, SPENDING

from custseg import Segmenter, Settings, check_table
from custseg.model import Engine, EngineTable, LocalEngine, fit_stages
from custseg.spark import SparkEngine

STAGES = ("read", "prepare", "fit", "profile", "write", "release")


class Recording(LocalEngine):
    """The local engine, noting which stage ran, and failing where told."""

    def __init__(self, fail_in: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_in = fail_in

    def __getattribute__(self, name: str):
        attr = super().__getattribute__(name)
        if name in STAGES:
            self.calls.append(name)
            if name == self.fail_in:
                raise RuntimeError(f"{name} failed")
        return attr


@pytest.mark.parametrize("engine", [LocalEngine, SparkEngine])
def test_both_engines_have_the_stages_of_the_interface(engine):
    for stage in STAGES:
        wanted = list(inspect.signature(getattr(Engine, stage)).parameters)
        got = list(inspect.signature(getattr(engine, stage)).parameters)
        assert got[: len(wanted)] == wanted, stage


def test_fit_stages_runs_the_stages_in_order_and_fills_the_segmenter(mall_df):
    settings = Settings(features=(INCOME, SPENDING), n_clusters=5)
    engine = Recording()
    table = engine.read(mall_df, settings)
    assert engine.calls == ["read"] and table.n_rows == 200
    assert set(table.timings) == {"load", "quality"}
    seg = fit_stages(
        engine, table, Segmenter(n_clusters=5, features=[INCOME, SPENDING])
    )
    assert engine.calls == ["read", "prepare", "fit", "profile", "release"]
    direct = Segmenter(n_clusters=5, features=[INCOME, SPENDING]).fit(mall_df)
    np.testing.assert_array_equal(seg.labels_, direct.labels_)
    assert seg.segment_names_ == direct.segment_names_
    assert seg.rules_ == direct.rules_
    assert {"prepare", "choose_k_and_fit", "stability", "profile", "rules"} <= set(
        seg.timings_
    )


def test_release_runs_when_a_stage_fails(mall_df):
    engine = Recording(fail_in="fit")
    table = EngineTable(mall_df, check_table(mall_df), len(mall_df))
    with pytest.raises(RuntimeError, match="fit failed"):
        fit_stages(engine, table, Segmenter(n_clusters=3))
    assert engine.calls == ["prepare", "fit", "release"]
