"""Each dashboard page, run headless by Streamlit's AppTest against a real API with the demo reviews."""

from __future__ import annotations

from opinara.dashboard.common import SIGNED_IN
from tests.dashboard.conftest import COUNTED, STORED
from tests.dashboard.pages import captions, metrics, run
from tests.jobs.conftest import wait_for_job


def test_overview_shows_stored_and_counted_reviews_volume_products_and_aspect_changes(dashboard_env):
    app = run("overview")
    shown = metrics(app)
    assert (shown["Reviews"], shown["Counted reviews"], shown["Products"]) == (str(STORED), str(COUNTED), "3")
    assert "Left out of the figures (a review may have two reasons): spam 2, duplicate_text 1." in captions(app)
    assert float(shown["Net sentiment"]) > 0
    assert len(app.get("plotly_chart")) >= 2
    assert not app.error


def test_product_page_shows_counts_reasons_variants_charts_and_highlighted_examples(dashboard_env):
    app = run("product")  # the first product: the earbuds, with the three reviews left out
    shown = metrics(app)
    assert (shown["Reviews"], shown["Counted reviews"]) == ("27", "24")
    assert "spam 2, duplicate_text 1" in captions(app)
    assert "Variants (3): aurora-x2, aurora-x2-black, aurora-x2-white" in captions(app)
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
    shown = metrics(app)
    assert shown["Sentiment"] in ("positive", "negative", "mixed", "neutral")
    assert shown["Language"].startswith("en")
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


def test_product_page_opens_the_product_in_its_link(dashboard_env):
    app = run("product", query={"product": "trailpeak-2"})
    shown = metrics(app)
    assert (shown["Reviews"], shown["Counted reviews"]) == ("24", "24")
    assert "Left out" not in captions(app) and "Variants (1): trailpeak-2" in captions(app)


def test_system_page_shows_readiness_throughput_and_a_note_instead_of_admin_details(dashboard_env):
    app = run("system")
    assert app.subheader[0].value == "Ready"
    shown = metrics(app)
    assert shown["database"] == "up" and shown["model"] == "up"
    assert int(shown["Requests served"].replace(",", "")) > 0
    assert any("needs an admin key" in i.value for i in app.info)
    assert not app.error


def test_system_page_with_an_admin_key_behind_a_password_shows_the_detailed_report(
    monkeypatch, dashboard_env, admin_key
):
    monkeypatch.setenv("OPINARA_API_KEY", admin_key)
    monkeypatch.setenv("OPINARA_DASHBOARD_PASSWORD", "correct horse")
    app = run("system", **{SIGNED_IN: True})
    components = app.dataframe[-1].value
    assert {"database", "queue", "model", "cache"} <= set(components["component"])
    assert not app.info and not app.error


def test_an_unreachable_api_is_a_readable_error(monkeypatch):
    monkeypatch.setenv("OPINARA_API_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("OPINARA_API_KEY", "opn_whatever")
    for page in ("overview", "product", "reviews", "jobs", "system"):
        app = run(page)
        assert any("cannot reach the Opinara API" in e.value for e in app.error), page


def test_an_empty_store_shows_an_empty_state(monkeypatch, tmp_path):
    from opinara.config import Settings
    from tests.api.server import running_api

    with running_api(
        Settings(data_dir=tmp_path, backend="lexicon", aspect_extractor="rules", embedded_workers=0)
    ) as empty:
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
