"""One module per service; each registers a connector under a versioned name (``connector.reddit.v1``)."""
