from tests.store.conftest import store  # noqa: F401 - the parametrized SQLite/PostgreSQL store fixture
