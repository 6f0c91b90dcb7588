"""Async jobs: records in the store, a Huey queue to wake workers, and the code that runs them."""
