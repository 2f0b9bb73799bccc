"""Scripts run by the peers' own interpreters (var/peers/...), never imported by the project."""
