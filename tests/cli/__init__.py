"""Tests of :mod:`streams.cli`: the command line, its entry points and what it prints."""
