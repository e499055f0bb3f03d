from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from custseg.profile import (
    ACTION_GRID,
    profile_segments,
    profiles_frame,
    segment_traits,
    suggest_action,
    unique_names,
)


def test_profile_numbers_by_hand():
    df = pd.DataFrame({"Age": [20.0, 22, 60, 62], "Gender": ["F", "F", "M", "F"]})
    p = profile_segments(df, np.array([0, 0, 1, 1]), ["Age"], ["Gender"])
    assert [x.size for x in p] == [2, 2] and p[0].share == 0.5
    assert p[0].mean["Age"] == 21 and p[1].median["Age"] == 61
    # overall mean 41, population std 20.0125 -> z = (21 - 41) / 20.0125
    assert p[0].z["Age"] == pytest.approx(-20 / np.std([20, 22, 60, 62]))
    assert p[1].categories["Gender"] == {"M": 0.5, "F": 0.5}
    # segment 0 is all F against 75% overall: a dominant category is a trait
    assert p[0].name == "Younger, mostly F" and p[1].name == "Older"


def test_names_are_unique():
    traits = [
        [(1.0, "high income")],
        [(1.0, "high income"), (0.7, "young")],
        [(1.0, "high income")],
    ]
    names = unique_names(traits, ["Annual Income (k$)"])
    assert len(set(names)) == 3
    assert names == ["High income", "Young, high income", "High income (2)"]


def test_categorical_trait_needs_dominance():
    overall = {"Gender": {"Female": 0.56, "Male": 0.44}}
    assert (
        segment_traits({}, {"Gender": {"Female": 0.9, "Male": 0.1}}, overall)[0][1]
        == "mostly Female"
    )
    assert segment_traits({}, {"Gender": {"Female": 0.6, "Male": 0.4}}, overall) == []


def test_every_grid_cell_has_one_action():
    levels = ["low", "mid", "high"]
    assert set(ACTION_GRID) == {(v, m) for v in levels for m in levels}
    assert len({title for title, _ in ACTION_GRID.values()}) == 9


def test_action_uses_spending_and_income():
    assert suggest_action({"Income": 1.0, "Spend": 1.0}).title == "Reward and retain"
    assert suggest_action({"Income": -1.0, "Spend": -1.0}).title == "Serve efficiently"
    # no spending-like column: other features stand in for value
    assert suggest_action({"Milk": 1.2, "Grocery": 0.9}).title == "Deepen loyalty"


def test_profiles_frame_columns():
    df = pd.DataFrame({"x": [1.0, 2, 10, 11]})
    frame = profiles_frame(profile_segments(df, np.array([0, 0, 1, 1]), ["x"], []))
    assert list(frame.columns) == [
        "segment",
        "name",
        "size",
        "share",
        "action",
        "mean x",
        "median x",
        "z x",
    ]
