"""The load-test harness: `python -m loadtests` (see loadtests/README.md).

It starts what it measures (redis-server, `huddle serve`, the baseline servers, client workers)
and stops each by its pid; results are JSON files, `docs/benchmarks.md` is built from them.
"""
