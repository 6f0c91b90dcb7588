"""File jobs: bounded reading (memory stays flat on a gzip bomb), unusable files refused, form fields
validated as the OpenAPI document describes them, texts that cannot be stored refused by name."""

from __future__ import annotations

import json
import os
import zlib

import pytest

from opinara.config import Settings
from tests.api.server import RunningApi, running_api
from tests.jobs.conftest import PeakRss, all_results, wait_for_job

MB = 1024 * 1024


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> RunningApi:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("jobs-uploads"),
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=1,
    )
    with running_api(settings) as running:
        yield running


@pytest.fixture(scope="module")
def key(api: RunningApi) -> str:
    return api.key("uploader", "analyze,read,ingest")


def _gzip(chunk: bytes, times: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    return b"".join(packer.compress(chunk) for _ in range(times)) + packer.flush()


def test_a_gzip_bomb_of_one_line_is_read_in_flat_memory_and_refused_with_the_line_reported(api, key):
    bomb = _gzip(b"a" * MB, 200)  # 200 MB of one letter, no newline, in about 200 KB
    assert len(bomb) < MB
    with api.client(key) as client, PeakRss() as memory:
        response = client.post("/v1/jobs", files={"file": ("bomb.txt.gz", bomb)})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "no usable texts" in detail and "line 1: line is longer than" in detail
    assert memory.growth < 100 * MB, f"the server's memory grew by {memory.growth / MB:.0f} MB"


def test_a_long_line_among_good_lines_is_one_failed_item(api, key):
    lines = [b"good strap", b"x" * 200_000, b"awful buckle", b"nice colour \x00 here", b"fine zipper"]
    with api.client(key) as client, PeakRss() as memory:
        created = client.post("/v1/jobs", files={"file": ("texts.txt", b"\n".join(lines) + b"\n")})
        assert created.status_code == 202, created.text
        done = wait_for_job(client, created.json()["id"])
        items = all_results(client, done["id"])
    assert (done["status"], done["total"], done["succeeded"], done["failed"]) == ("succeeded", 5, 3, 2)
    assert items[1]["error"].startswith("line 2: text has 200000 characters")
    assert items[3]["error"].startswith("line 4: contains a NUL character")
    assert memory.growth < 100 * MB


@pytest.mark.parametrize("kind", ["analyze", "ingest"])
def test_random_bytes_are_refused_as_binary(api, key, kind):
    uploads = api.platform.settings.data_dir / "uploads"
    before = set(uploads.iterdir()) if uploads.exists() else set()
    with api.client(key) as client:
        response = client.post("/v1/jobs", files={"file": ("data.jsonl", os.urandom(50_000))}, data={"kind": kind})
    assert response.status_code == 422 and "binary" in response.json()["detail"]
    assert (set(uploads.iterdir()) if uploads.exists() else set()) == before


def test_a_file_that_unpacks_past_the_limit_is_refused(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        backend="lexicon",
        aspect_extractor="rules",
        embedded_workers=0,
        max_upload_decompressed_bytes=MB,
    )
    with running_api(settings) as small, small.client(small.key("small", "analyze")) as client:
        response = client.post("/v1/jobs", files={"file": ("many.txt.gz", _gzip(b"fine text\n" * 1000, 200))})
    assert response.status_code == 413 and response.json()["limit"] == "decompressed size"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "analyze", "format": "amazon-2023"}, "format"),
        ({"kind": "ingest", "format": "text"}, "format"),
        ({"format": "xml"}, "format"),
        ({"kind": "explode"}, "kind"),
        ({"backend": "nope"}, "backend"),
        ({"language": "english"}, "language"),
        ({"text_field": "a\tb"}, "text_field"),
        ({"source": "-leading-dash"}, "source"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_form_fields_outside_the_schema_are_refused_by_name(api, key, data, field):
    with api.client(key) as client:
        response = client.post("/v1/jobs", files={"file": ("t.txt", b"fine\n")}, data=data)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [field]


def test_empty_form_fields_count_as_absent_and_every_format_of_a_kind_is_accepted(api, key):
    rows = json.dumps({"id": "1", "text": "fine"}) + "\n"
    cases = [
        ({"format": "", "aspects": ""}, "t.txt", b"fine\n"),
        ({"format": "jsonl"}, "t.data", rows.encode()),
        ({"format": "csv", "text_field": "body"}, "t.data", b"id,body\n1,fine\n"),
        ({"kind": "ingest", "format": "csv"}, "r.csv", b"product_id,rating,text\nP1,5,fine\n"),
        ({"kind": "ingest", "format": "amazon-2018"}, "r.json", b'{"asin": "P2", "overall": 4, "reviewText": "ok"}\n'),
    ]
    with api.client(key) as client:
        responses = [client.post("/v1/jobs", files={"file": (name, body)}, data=data) for data, name, body in cases]
        done = [wait_for_job(client, r.json()["id"]) for r in responses if r.status_code == 202]
    assert [r.status_code for r in responses] == [202] * len(cases), [r.text for r in responses]
    assert [job["status"] for job in done] == ["succeeded"] * len(cases), [job["error"] for job in done]


def test_texts_that_cannot_be_stored_are_refused_naming_field_and_index(api, key):
    with api.client(key) as client:
        nul = client.post("/v1/jobs", json={"texts": ["fine", "bad\u0000text"]})
        surrogate = client.post(
            "/v1/jobs", content=b'{"texts": ["fine", "ok", "\\ud800"]}', headers={"content-type": "application/json"}
        )
        bad_id = client.post("/v1/jobs", json={"texts": ["fine"], "ids": ["x" * 300]})
    assert nul.status_code == surrogate.status_code == bad_id.status_code == 422
    assert nul.json()["errors"][0]["field"] == "texts.1" and "NUL" in nul.json()["detail"]
    assert surrogate.json()["errors"][0]["field"] == "texts.2" and "surrogate" in surrogate.json()["detail"]
    assert bad_id.json()["errors"][0]["field"] == "ids.0"


def test_the_openapi_document_describes_every_job_request_and_answer(api):
    spec = api.client().get("/openapi.json").json()
    paths = {path: methods for path, methods in spec["paths"].items() if path.startswith("/v1/jobs")}
    for path, methods in paths.items():
        for method, operation in methods.items():
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert len(success) == 1, (method, path)
            assert "$ref" in str(operation["responses"][success[0]]["content"]["application/json"]["schema"])
            assert {"401", "403", "404", "422", "429"} <= set(operation["responses"]), (method, path)
    form = paths["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["additionalProperties"] is False
    assert form["properties"]["format"]["enum"] == ["text", "jsonl", "csv", "amazon-2023", "amazon-2018"]
    assert form["properties"]["backend"]["enum"] == ["lexicon", "encoder", "transformer"]
    assert {tuple(rule["properties"]["format"]["enum"]) for rule in form["anyOf"]} == {
        ("text", "jsonl", "csv"),
        ("amazon-2023", "amazon-2018", "csv"),
    }
    assert "null" not in json.dumps(form), "a form field is absent or has a value"
    results = spec["components"]["schemas"]["JobResults"]["properties"]["items"]
    assert "AnalyzedItem" in json.dumps(results) and "RejectedItem" in json.dumps(results)
