"""Alerts: rules evaluated over series, routed and silenced, and sent through notification channels."""
