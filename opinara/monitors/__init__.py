"""Source monitors: connectors that fetch posts from feeds and social sites, the scheduler that runs
them, the runs' history, and mentions stored through the common ingest path."""
