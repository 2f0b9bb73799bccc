"""``fincredit``, the operator's command line, assembled from the capabilities' commands."""

from fincredit.platform.cli.app import app

__all__ = ["app"]
