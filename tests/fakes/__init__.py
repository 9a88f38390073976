"""Loopback stand-ins for outside services, shared by the test packages."""
