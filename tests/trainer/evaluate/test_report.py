"""The HTML report: self-contained, every section present, its numbers = the JSON."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from trainer.evaluate.report import SECTIONS, render_html, shown
from tests.trainer.evaluate.test_evaluate import result  # noqa: F401  (the fixture)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.metrics: list[tuple[dict[str, str | None], str]] = []
        self.sources: list[str] = []
        self._open: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.append(attrs.get("id"))
        for key in ("src", "href"):
            if attrs.get(key) and tag in ("img", "script", "link", "iframe"):
                self.sources.append(attrs[key])
        if tag == "span" and "data-metric" in attrs:
            self._open, self._text = attrs, ""

    def handle_data(self, data):
        if self._open is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.metrics.append((self._open, self._text))
            self._open = None


@pytest.fixture(scope="module")
def page(result):  # noqa: F811
    return render_html(result)


def test_every_section_is_there_in_order(page):
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.sections == [sid for sid, _ in SECTIONS]
    # the not-DP notice comes before the verdict table, on the first screen
    assert page.index("NOT differentially private") < page.index("<table")
    assert page.count("<img") >= 4  # histograms, heatmaps, importances, distances


def test_it_needs_no_network(page):
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.sources and all(s.startswith(("data:image/png;base64,", "#"))
                                  for s in parsed.sources)
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.replace(
        "data:image", ""))


def test_its_numbers_are_the_json_numbers(page, result):  # noqa: F811
    plain = json.loads(json.dumps(result.to_plain()))
    parsed = _Collect()
    parsed.feed(page)
    assert len(parsed.metrics) > 60
    for attrs, text in parsed.metrics:
        value = plain
        for step in json.loads(attrs["data-metric"]):
            value = value[step]
        assert json.loads(attrs["data-value"]) == value, attrs["data-metric"]
        assert text == shown(value, attrs["data-spec"], "data-percent" in attrs)
    # the headline figures are among them
    places = {tuple(json.loads(a["data-metric"])) for a, _ in parsed.metrics}
    for place in [("fidelity", "tvd_1way_mean"), ("fidelity", "tvd_2way_mean"),
                  ("distance", "mia_auc"), ("target", "synthetic_score"),
                  ("singling_out", "value"), ("linkability", "value"),
                  ("bias", "sex", 0, "real_rate")]:
        assert place in places, place
