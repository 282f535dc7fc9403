"""The read-only dashboard at /dashboard: the report's figures and charts with its filters, the open cases and a case's
trail, as server-rendered pages behind HTTP Basic. `handlers/runner.py` imports it only when `[dashboard] users` are
configured."""
