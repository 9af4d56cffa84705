"""Helpers of the tests: fakes, test settings, in-process clients, log capture."""
