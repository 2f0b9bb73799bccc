# Shared fixtures (database backends, services, API client) for every test directory.
pytest_plugins = ["fincredit.platform.testing.plugin"]
