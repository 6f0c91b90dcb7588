"""Who may call the API and how much: API keys, rate limits, daily quotas and usage records."""
