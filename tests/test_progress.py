"""Progress of long work: count, time and ETA, as a widget in notebooks and text elsewhere."""

from __future__ import annotations

import io

from proppo_lab.trace.progress import TextProgress, WidgetProgress, describe, make_progress


def test_describe_gives_count_time_and_eta():
    assert describe(3, 10, 3.0) == "3/10 · 3.0 s · eta 7 s"
    assert describe(10, 10, 5.0) == "10/10 · 5.0 s"  # no ETA once done


def test_text_progress_writes_count_and_ends_the_line():
    stream = io.StringIO()
    bar = TextProgress(4, "sweep", stream=stream, min_interval=0.0)
    bar(1, text="RP")
    assert "1/4" in stream.getvalue() and "eta" in stream.getvalue() and "RP" in stream.getvalue()
    bar(4)
    assert stream.getvalue().endswith("\n")
    bar(4)  # after the end nothing more is written
    assert stream.getvalue().count("\n") == 1


def test_widget_progress_shows_count_and_eta_in_its_label():
    bar = WidgetProgress(8, "sweep", min_interval=0.0)
    bar(2, text="TP 1/4")
    assert (bar.bar.value, bar.bar.max) == (2, 8)
    assert (
        bar.text.value.startswith("2/8") and "eta" in bar.text.value and "TP 1/4" in bar.text.value
    )
    bar(8)
    assert bar.bar.bar_style == "success" and "eta" not in bar.text.value


def test_outside_a_kernel_the_bar_is_text_and_callables_pass_through():
    assert isinstance(make_progress(True, 3, "x"), TextProgress)

    def report(done, total, text):
        pass

    assert make_progress(report, 3, "x") is report
    assert make_progress(False, 3, "x") is None
