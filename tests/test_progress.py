"""Progress of long work: a sweep's bar is tqdm's; the Lab's label gives count, time and ETA."""

from __future__ import annotations

from tqdm.auto import tqdm

from proppo_lab import trace
from proppo_lab.trace.progress import Bar, describe, make_progress


def test_describe_gives_count_time_and_eta():
    assert describe(3, 10, 3.0) == "3/10 · 3.0 s · eta 7 s"
    assert describe(10, 10, 5.0) == "10/10 · 5.0 s"  # no ETA once done


def test_the_bar_is_tqdms_and_is_told_the_count(capsys):
    bar = make_progress(True, 4, "sweep")
    assert isinstance(bar, Bar) and isinstance(bar.bar, tqdm)
    bar(1, 4, "beta=1 RP")
    assert bar.bar.n == 1 and bar.bar.postfix == "beta=1 RP"
    bar(3, 4)
    assert bar.bar.n == 3  # told the count, not an increment
    bar(4, 4, "done")
    assert bar.bar.disable  # closed at the end
    bar(4, 4)  # after the end nothing more happens
    err = capsys.readouterr().err
    assert "sweep" in err and "4/4" in err and err.count("\n") == 1


def test_callables_pass_through_and_false_is_silent():
    def report(done, total, text):
        pass

    assert make_progress(report, 3, "x") is report
    assert make_progress(False, 3, "x") is None


def test_a_sweep_shows_its_bar_on_stderr(capsys):
    from proppo_lab.systems import GaussianChain

    trace.sweep(lambda a: GaussianChain(a=a, particles=8), {"a": [0.5, 0.9]}, {"RP": "RP"}, 2)
    err = capsys.readouterr().err
    assert "sweep" in err and "4/4" in err
