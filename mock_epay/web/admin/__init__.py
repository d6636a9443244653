"""The mock's own admin API under /_mock/, the dashboard and the demo shop."""
