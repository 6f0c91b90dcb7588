"""The REST API (FastAPI): thin routes over the services in ``opinara.platform``."""
