# Shared fixtures (database backends, services, API client) for every test directory.
import os

# Every Ray the tests start stays on loopback (Ray otherwise binds a node to this host's interface address).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# The platform party's steps run in the service process unless a test asks for Ray (a local Ray per
# test process and per service instance would cost more than the small jobs of the suite).
os.environ.setdefault("FINCREDIT_FEDERATION_RAY", "off")

pytest_plugins = ["fincredit.platform.testing.plugin"]
