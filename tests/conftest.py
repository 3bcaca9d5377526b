"""Fixtures shared across test packages."""

pytest_plugins = ["tests.utils.browser"]
