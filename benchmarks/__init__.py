"""Throughput benchmarks for the redactor, kept out of the package so they never ship with it."""
