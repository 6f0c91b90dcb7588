"""The deployment secret: kept outside the database, created once with mode 0600, and the author pseudonyms it
keys are stable within a deployment and different across deployments."""

from __future__ import annotations

import stat

import pytest

from opinara.config import Settings
from opinara.errors import InputError
from opinara.privacy import SECRET_FILE, Pseudonymizer, deployment_secret


def test_the_secret_file_is_created_once_with_mode_0600(tmp_path):
    settings = Settings(data_dir=tmp_path / "deployment")
    first = deployment_secret(settings)
    path = tmp_path / "deployment" / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and deployment_secret(Settings(data_dir=tmp_path / "deployment")) == first


def test_pseudonyms_are_stable_in_a_deployment_and_differ_across_deployments(tmp_path):
    one = Pseudonymizer.for_settings(Settings(data_dir=tmp_path / "one"))
    again = Pseudonymizer.for_settings(Settings(data_dir=tmp_path / "one"))
    other = Pseudonymizer.for_settings(Settings(data_dir=tmp_path / "two"))
    assert one("A3SZOL2OGJYR4Y") == again("A3SZOL2OGJYR4Y") != other("A3SZOL2OGJYR4Y")
    assert one("A3SZOL2OGJYR4Y") != one("A3SZOL2OGJYR4Z")
    assert len(one("someone") or "") == 32 and one(None) is None and one("") is None
    assert "A3SZOL2OGJYR4Y" not in (one("A3SZOL2OGJYR4Y") or "")


def test_the_secret_setting_wins_and_must_be_long_enough(tmp_path):
    given = Settings(data_dir=tmp_path / "a", secret_key="a-long-enough-deployment-secret")
    shared = Settings(data_dir=tmp_path / "b", secret_key="a-long-enough-deployment-secret")
    assert Pseudonymizer.for_settings(given)("x") == Pseudonymizer.for_settings(shared)("x")
    assert not (tmp_path / "a" / SECRET_FILE).exists(), "no file when the setting names the secret"
    with pytest.raises(InputError, match="at least 16"):
        deployment_secret(Settings(data_dir=tmp_path / "c", secret_key="short"))


def test_purposes_have_keys_of_their_own(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert Pseudonymizer.for_settings(settings, "author")("x") != Pseudonymizer.for_settings(settings, "review-key")(
        "x"
    )
