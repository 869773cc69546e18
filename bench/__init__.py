"""Benchmarks of briefbot; results and the commands that reproduce them are in docs/benchmarks.md.

Every module here with a ``main(argv)`` function is run by ``python -m bench.run_all``.
"""
