"""Test results: JUnit parsing into per-test-case rows, and analytics over them."""
