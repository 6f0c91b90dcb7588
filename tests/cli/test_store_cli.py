"""The store commands as a user runs them, on a fresh SQLite data directory each."""

import json

import pytest

from opinara.demo import load_demo_reviews


@pytest.fixture
def env_cli(run_cli, tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str, **kwargs):
        return run_cli(*args, env_extra={"OPINARA_DATABASE_URL": url}, **kwargs)

    return run


@pytest.fixture
def demo_csv(tmp_path):
    import csv

    path = tmp_path / "demo.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "product_id", "product_title", "rating", "date", "text"])
        for r in load_demo_reviews():
            writer.writerow([r.id, r.product_id, r.product, r.rating, r.date, r.text])
    return path


def test_db_upgrade_then_up_to_date(env_cli):
    first = env_cli("db", "upgrade")
    assert first.returncode == 0 and b"applied 0001" in first.stdout
    assert b"up to date" in env_cli("db", "upgrade").stdout


def test_ingest_then_insights(env_cli, demo_csv):
    done = env_cli("ingest", "--backend", "lexicon", str(demo_csv))
    assert done.returncode == 0, done.stderr
    assert b"csv, read 72, stored 72, duplicates 0, rejected 0" in done.stdout
    again = env_cli("ingest", "--backend", "lexicon", str(demo_csv))
    assert b"stored 0, duplicates 72" in again.stdout

    products = json.loads(env_cli("products", "--format", "json").stdout)
    by_id = {p["external_id"]: p for p in products}
    assert set(by_id) == {"aurora-x2", "brewline-pro", "trailpeak-2"}
    assert by_id["aurora-x2"]["reviews"] == 24 and by_id["aurora-x2"]["title"] == "Aurora X2 Wireless Earbuds"
    assert by_id["brewline-pro"]["average_rating"] == pytest.approx(
        sum(r.rating for r in load_demo_reviews() if r.product_id == "brewline-pro") / 24, abs=1e-3
    )

    aspects = json.loads(env_cli("aspects", "aurora-x2", "--format", "json").stdout)
    groups = {a["group"]: a for a in aspects["aspects"]}
    assert groups["battery"]["positive"] >= 3
    assert all(len(a["examples"]) <= 2 for a in aspects["aspects"])

    trends = json.loads(env_cli("trends", "aurora-x2", "--by", "month", "--format", "json").stdout)
    assert [p["period"] for p in trends["periods"]] == ["2026-03-01", "2026-04-01", "2026-05-01"]
    assert sum(p["mentions"] for p in trends["periods"]) == 24

    drivers = env_cli("drivers", "brewline-pro")
    assert drivers.returncode == 0 and b"drivers of low ratings" in drivers.stdout

    rebuilt = env_cli("aggregates", "rebuild")
    assert rebuilt.returncode == 0
    assert json.loads(env_cli("products", "--format", "json").stdout) == products

    reanalyzed = env_cli("reanalyze", "--product", "aurora-x2", "--backend", "lexicon")
    assert b"reanalyzed 24 reviews" in reanalyzed.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("aspects", "no-such-product"), "no product 'no-such-product'"),
        (("trends", "x", "--by", "year"), "--by must be day, week or month"),
        (("ingest", "/no/such.jsonl"), "no such file"),
        (("ingest", "--map", "bogus", "x"), "no such file"),
        (("products", "--format", "xml"), "--format must be table or json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(env_cli, args, message):
    done = env_cli(*args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
