"""Helpers shared by the test suites: a real redis-server, and waiting on conditions."""
