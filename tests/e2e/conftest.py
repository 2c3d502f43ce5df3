"""End-to-end tests: real `huddle serve` processes (the `nodes` fixture, in tests/conftest.py,
which also attaches every node's log to a failing test's report)."""
