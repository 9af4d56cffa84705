"""Tools for working on the project, shared by the tests, the benchmark and the scripts:
free loopback ports, the services as local processes, headless Chromium. Standard library
only (Playwright is imported when a browser is asked for), so it runs in any venv."""
