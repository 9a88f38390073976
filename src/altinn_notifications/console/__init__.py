"""The operator console: a server-rendered web UI at `/console` over the service's own flows."""
