"""Scenario files: schema, compiled rule matching, the engine, file watching and the docs table."""
