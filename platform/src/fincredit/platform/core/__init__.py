"""The shared machinery every capability builds on: settings, the database engine and migrations, the app
factory and the capability registry, authorization, audit, errors and problem responses, the keyring.
Capabilities import from here; nothing here imports a capability except through the registry."""
