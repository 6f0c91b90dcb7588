"""Insights: what analyzed reviews say about each product and each of its aspects."""
