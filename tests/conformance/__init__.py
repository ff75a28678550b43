"""Conformance: the official MCP conformance suites run against our fixture, directly and through Lockgate."""
