"""Benchmarks and fault runs (bench/faults) of crmbot; not part of the installed package."""
