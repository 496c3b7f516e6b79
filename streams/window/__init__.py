"""The window's work: decode -> coalesce -> IM requests -> outcomes, and its commit protocol.

Engine-independent: it imports :mod:`streams.core`, :mod:`streams.sdk`, :mod:`streams.contract`,
the settings, the errors, the request budget and itself, never a stream engine or a Kafka
client. What it needs of them is declared in :mod:`streams.window.ports`, which
:mod:`streams.engine` implements (tests/test_layering.py holds the imports to this).
"""
