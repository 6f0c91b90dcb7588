"""What every page shares: the API client from settings, error display, small formatting helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st

from opinara.config import Settings
from opinara.dashboard.client import ApiError, OpinaraClient


@st.cache_resource
def _client(url: str, key: str | None) -> OpinaraClient:
    return OpinaraClient(url, key)


def client() -> OpinaraClient:
    settings = Settings()
    return _client(settings.api_url, settings.api_key.get_secret_value() if settings.api_key else None)


@contextmanager
def api_errors() -> Iterator[None]:
    """Show an API failure as a readable message and stop the page, instead of a traceback."""
    try:
        yield
    except ApiError as exc:
        st.error(exc.message)
        if exc.status is None:
            st.caption("Start the API with `opinara serve`, or set OPINARA_API_URL to where it runs.")
        st.stop()


def no_data(message: str = "No reviews yet.") -> None:
    st.info(f"{message} Ingest some with `opinara ingest FILE`, or submit a review file on the Jobs page.")


def product_label(product: dict[str, Any]) -> str:
    return f"{product['title'] or product['external_id']} ({product['external_id']})"


def stars(rating: float | None) -> str:
    return "—" if rating is None else "★" * round(rating) + "☆" * (5 - round(rating))
