# Shared fixtures (database backends, services, API client) for every test directory.
import os

# Every Ray the tests start stays on loopback (Ray otherwise binds a node to this host's interface address).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

pytest_plugins = ["fincredit.platform.testing.plugin"]
