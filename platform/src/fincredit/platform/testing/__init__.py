"""Test support: the pytest plugin (``testing.plugin``: database backends, services, API client) and
seeding helpers for tests, benchmarks and the demo (``testing.seed``). Not imported by the service."""
