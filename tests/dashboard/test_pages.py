"""Each dashboard page, run headless by Streamlit's AppTest against a real API with the demo reviews."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

import opinara.dashboard
from tests.jobs.conftest import wait_for_job

PAGES = Path(opinara.dashboard.__file__).parent / "views"


def run(page: str, **state: object) -> AppTest:
    app = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    for key, value in state.items():
        app.session_state[key] = value
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_overview_shows_volume_products_and_aspect_changes(dashboard_env):
    app = run("overview")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Reviews"] == "72" and metrics["Products"] == "3"
    assert float(metrics["Net sentiment"]) > 0
    assert len(app.get("plotly_chart")) >= 2
    assert not app.error


def test_product_page_charts_drivers_and_highlighted_examples(dashboard_env):
    app = run("product")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Reviews"] == "24"
    assert len(app.get("plotly_chart")) == 3  # rating vs sentiment, aspects, aspect trends
    examples = [m.value for m in app.markdown if "<span" in m.value]
    assert examples and all("title=" in e for e in examples)


def test_reviews_page_pages_through_all_reviews(dashboard_env):
    app = run("reviews")
    first = [m.value for m in app.markdown if m.value.startswith("**")]
    assert len(first) == 20
    older = next(b for b in app.button if b.label == "Older →")
    older.click().run()
    assert not app.exception
    second = [m.value for m in app.markdown if m.value.startswith("**")]
    assert len(second) == 20 and second != first


def test_reviews_page_filters_and_says_when_nothing_matches(dashboard_env):
    app = run("reviews")
    app.text_input[1].input("zzzz-no-such-words")
    app.button[0].click().run()  # the form's Apply
    assert not app.exception
    assert any("No reviews match" in i.value for i in app.info)


def test_analyze_page_shows_sentiment_aspects_pii_and_explanation(dashboard_env):
    app = run("analyze")
    app.button[0].click().run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Sentiment"] in ("positive", "negative", "mixed", "neutral")
    assert metrics["Language"].startswith("en")
    html = next(m.value for m in app.markdown if "<span" in m.value)
    assert 'title="PII: PHONE"' in html and 'title="battery: positive"' in html
    assert "text-decoration: underline" in html, "opinion words are underlined"
    assert app.get("plotly_chart"), "the explanation chart"


def test_jobs_page_lists_a_submitted_job_and_offers_its_results(dashboard_env, demo_key):
    with dashboard_env.client(demo_key) as client:
        job = client.post("/v1/jobs", json={"texts": ["Lovely strap", "Awful buckle"]}).json()
        wait_for_job(client, job["id"])
    app = run("jobs", job_id=job["id"])
    assert any(job["id"] in str(frame.value) for frame in app.dataframe)
    assert app.get("download_button"), "a finished job offers its results"


def test_system_page_shows_components_and_throughput(dashboard_env):
    app = run("system")
    assert app.subheader[0].value == "Ready"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["database"] == "up" and metrics["model"] == "up"
    assert int(metrics["Requests served"].replace(",", "")) > 0


def test_an_unreachable_api_is_a_readable_error(monkeypatch):
    monkeypatch.setenv("OPINARA_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("OPINARA_API_KEY", "opn_whatever")
    for page in ("overview", "product", "reviews", "jobs", "system"):
        app = run(page)
        assert any("cannot reach the Opinara API" in e.value for e in app.error), page


def test_an_empty_store_shows_an_empty_state(monkeypatch, tmp_path):
    from opinara.config import Settings
    from tests.api.server import running_api

    with running_api(Settings(data_dir=tmp_path, backend="lexicon", embedded_workers=0)) as empty:
        monkeypatch.setenv("OPINARA_API_URL", empty.url)
        monkeypatch.setenv("OPINARA_API_KEY", empty.key("empty", "read"))
        for page in ("overview", "product", "reviews"):
            app = run(page)
            assert any("No " in i.value for i in app.info), page


def test_a_bad_key_is_a_readable_error(monkeypatch, demo_api):
    monkeypatch.setenv("OPINARA_API_URL", demo_api.url)
    monkeypatch.setenv("OPINARA_API_KEY", "opn_not-a-real-key")
    app = run("overview")
    assert any("answered 401" in e.value and "OPINARA_API_KEY" in e.value for e in app.error)
