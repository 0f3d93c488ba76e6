"""A misspelt propagator or option name gets the closest registered one suggested."""

import pytest

import proppo_lab as pl


@pytest.mark.parametrize(
    "spec, hint",
    [
        ("TPP", "did you mean 'TP'?"),
        ("backprop", "did you mean 'Backprop'?"),
        ("Chekpoint", "did you mean 'Checkpoint'?"),
        ({"propagator": "TP", "options": {"evry": 2}}, "did you mean 'every'?"),
    ],
)
def test_a_misspelt_name_gets_a_suggestion(spec, hint):
    with pytest.raises(pl.PlanError, match="did you mean") as err:
        pl.PropagationManager(plan={"state": spec})
    assert hint in str(err.value)


def test_a_name_like_no_other_lists_the_registered_ones_without_a_guess():
    with pytest.raises(pl.PlanError) as err:
        pl.PropagationManager(plan={"state": "Zzzzzz"})
    assert "did you mean" not in str(err.value)
    assert "registered: Backprop, RP, LR, TP" in str(err.value)
