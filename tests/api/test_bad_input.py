"""One bad input never harms another: texts that cannot be processed are refused at validation, numbers,
cursors, dates and ids are range-checked, and a database outage is a 503, never a 500."""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from opinara.config import Settings
from tests.api.server import RunningApi, running_api, running_demo_api
from tests.conftest import IN_CI
from tests.store.conftest import POSTGRES_URL

POISON = "bad \ud800 text"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with running_demo_api(tmp_path_factory.mktemp("bad-input"), embedded_workers=0) as running:
        yield running


@pytest.fixture(scope="module")
def key(api: RunningApi) -> str:
    return api.key("bad-input", "analyze,read")


def _post_json(client, path: str, body: object):
    # json.dumps writes a lone surrogate as the escape "\ud800", as any JSON client would send it
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


def test_one_poisoned_request_among_twenty_good_ones_fails_alone(api, key):
    bodies = [{"text": f"Review {i}: the strap is {'great' if i % 2 else 'awful'}."} for i in range(20)]
    bodies.insert(7, {"text": POISON})
    with api.client(key) as client, concurrent.futures.ThreadPoolExecutor(21) as pool:
        answers = list(pool.map(lambda body: _post_json(client, "/v1/analyze", body), bodies))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 20 and statuses[7] == 422
    problem = answers[7].json()
    assert problem["errors"][0]["field"] == "text" and "lone surrogate" in problem["detail"]
    assert "\ud800" not in answers[7].text and "bad" not in problem["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field", "what"),
    [
        ("/v1/analyze", {"text": "nul \x00 inside"}, "text", "NUL character at character 4"),
        ("/v1/analyze/batch", {"texts": ["fine", POISON]}, "texts.1", "lone surrogate (U+D800) at character 4"),
        ("/v1/jobs", {"texts": ["fine", "fine", "x\x00"]}, "texts.2", "NUL character at character 1"),
        ("/v1/jobs", {"texts": ["fine"], "ids": ["\udfff"]}, "ids.0", "lone surrogate"),
    ],
)
def test_unsafe_characters_are_422_naming_the_field_and_index(api, key, path, body, field, what):
    with api.client(key) as client:
        answer = _post_json(client, path, body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["errors"][0]["field"] == field
    assert what in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/products/²", 404),
        ("/v1/products/²/drivers", 404),
        ("/v1/products/99999999999999999999999", 404),
        ("/v1/reviews?cursor=1048400566306639970304", 422),
        ("/v1/reviews?cursor=0", 422),
        ("/v1/products?cursor=-5", 422),
        ("/v1/aspects/changes?start=0037-04-30&end=0809-11-10", 422),
        ("/v1/aspects/changes?start=2026-01-10&end=2026-01-01", 422),
        ("/v1/products?min_mentions=99999999999999999999", 422),
        ("/v1/products/aurora-x2/aspects?limit=0", 422),
        ("/v1/reviews?q=%00", 422),
        ("/v1/reviews?since=9999-12-31", 422),
        ("/v1/reviews?until=0", 422),
        ("/v1/reviews?until=2026-1-1", 422),
    ],
)
def test_numbers_cursors_dates_and_ids_are_range_checked(api, key, path, status):
    with api.client(key) as client:
        answer = client.get(path)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_method_the_path_does_not_take_is_405_naming_every_method_it_does(api, key):
    with api.client(key) as client:
        jobs = client.request("OPTIONS", "/v1/jobs")
        job = client.request("PUT", "/v1/jobs/" + "0" * 32)
    assert jobs.status_code == 405 and jobs.headers["allow"] == "GET, POST"
    assert job.status_code == 405 and job.headers["allow"] == "DELETE, GET"
    assert jobs.headers["content-type"] == "application/problem+json"


def test_a_variant_or_a_number_finds_the_product(api, key):
    with api.client(key) as client:
        product = client.get("/v1/products/aurora-x2").json()
        by_number = client.get(f"/v1/products/{product['id']}").json()
    assert by_number["external_id"] == "aurora-x2" and product["variants"] == ["aurora-x2"]
    assert product["reviews"] == 24 and product["counted_reviews"] + sum(product["excluded"].values()) >= 24


@pytest.fixture
def outage_database() -> Iterator[tuple[str, object]]:
    """A PostgreSQL database of its own that the test can take down (refuse connections) and bring back."""
    admin_url = POSTGRES_URL
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text("select 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL not reachable at {admin_url}: {exc} (CI=true)")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}: {exc}")
    name = f"opinara_outage_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def set_down(down: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if down else "true"}'))
            if down:
                connection.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
                )

    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}", set_down
    finally:
        set_down(False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_database_outage_is_503_with_retry_after_and_readiness_hides_the_error(tmp_path, outage_database):
    url, set_down = outage_database
    settings = Settings(data_dir=tmp_path, database_url=url, backend="lexicon", embedded_workers=0)
    with running_api(settings) as api:
        key = api.key("outage", "analyze,read")
        with api.client(key) as client:
            assert client.get("/v1/products").status_code == 200
            set_down(True)
            try:
                products = client.get("/v1/products")
                reviews = client.get("/v1/reviews")
                ready = client.get("/health/ready")
            finally:
                set_down(False)
            recovered = client.get("/v1/products")
    for answer in (products, reviews):
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) >= 1
        assert "database" in answer.json()["detail"] and "opinara_outage" not in answer.text
    assert ready.status_code == 503
    database = ready.json()["checks"]["database"]
    assert database["status"] == "down" and database["error"] == "database check failed (OperationalError)"
    assert recovered.status_code == 200
