"""What every page shares: the gate (password, key check), the API client, error display, formatting."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import streamlit as st

from opinara.config import Settings
from opinara.dashboard.access import admin_key_problem, password, password_matches
from opinara.dashboard.client import MAX_PRODUCTS, ApiError, OpinaraClient
from opinara.insights.models import ProductInsight, ProductRef

SIGNED_IN = "opinara_signed_in"  # session state: True once this session gave the right password
CHECKED_KEY = "opinara_checked_key"  # session state: the key (by digest) found fit to share, with its URL


@st.cache_resource
def _client(url: str, key: str | None) -> OpinaraClient:
    return OpinaraClient(url, key)


def client() -> OpinaraClient:
    """This session's API client, once the visitor is let in and the key is fit to share with them.

    Every page calls this first, after its title; a page that may not be shown stops here."""
    settings = Settings()
    require_password(settings)
    key = settings.api_key.get_secret_value() if settings.api_key else None
    api = _client(settings.api_url, key)
    require_shareable_key(api, settings, key)
    return api


def require_password(settings: Settings) -> None:
    """With a dashboard password set, a sign-in form and nothing else until this session gives it."""
    expected = password(settings)
    if expected is None or st.session_state.get(SIGNED_IN):
        return
    with st.form("sign_in", clear_on_submit=True):  # cleared: the password does not stay in the widget
        given = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if password_matches(given, expected):
            st.session_state[SIGNED_IN] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()


def require_shareable_key(api: OpinaraClient, settings: Settings, key: str | None) -> None:
    """Ask the API once a session what the key may do; refuse to run with admin and no password."""
    checked = (settings.api_url, hashlib.sha256((key or "").encode()).hexdigest())
    if st.session_state.get(CHECKED_KEY) == checked:
        return
    with api_errors():
        scopes = api.key().scopes
    problem = admin_key_problem(scopes, settings)
    if problem is not None:
        st.error(problem)
        st.stop()
    st.session_state[CHECKED_KEY] = checked


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


def product_label(product: ProductRef) -> str:
    return f"{product.title or product.external_id} ({product.external_id})"


def stars(rating: float | None) -> str:
    return "—" if rating is None else "★" * round(rating) + "☆" * (5 - round(rating))


def excluded_text(excluded: dict[str, int]) -> str:
    """``{"spam": 3, "duplicate_text": 12}`` as ``duplicate_text 12, spam 3`` (largest first)."""
    return ", ".join(f"{reason} {count:,}" for reason, count in sorted(excluded.items(), key=lambda i: (-i[1], i[0])))


def total_excluded(products: Iterable[ProductInsight]) -> dict[str, int]:
    """Reviews left out of the aggregates, by reason, over ``products``."""
    totals: Counter[str] = Counter()
    for product in products:
        totals.update(product.excluded)
    return dict(totals)


def cut_notice(products: list[ProductInsight]) -> None:
    if len(products) >= MAX_PRODUCTS:
        st.caption(f"Showing the first {MAX_PRODUCTS:,} products; the API lists them all (GET /v1/products).")


def record_outcome(key: str, call: Callable[[], object], success: str, scope_note: str, section: str = "") -> None:
    """Run a button's API call (a callback, before the page draws) and keep its outcome in the session
    under ``key`` for :func:`show_outcome`: the success text, the API's message, or ``scope_note`` on 403."""
    try:
        call()
    except ApiError as exc:
        st.session_state[key] = (section, "scope", scope_note) if exc.status == 403 else (section, "error", exc.message)
    else:
        st.session_state[key] = (section, "success", success)


def show_outcome(key: str, section: str = "") -> None:
    """The last button's outcome, once, where ``section`` says (a page may have several)."""
    found = st.session_state.get(key)
    if not found or found[0] != section:
        return
    del st.session_state[key]
    _, kind, message = found
    {"scope": st.info, "error": st.error}.get(kind, st.success)(message)
