"""The window's work: decode -> coalesce -> IM requests -> outcomes, and its commit protocol.

Engine-independent: it imports :mod:`streams.core`, :mod:`streams.sdk`, :mod:`streams.contract`,
the errors, the request budget and itself, never a stream engine or a Kafka client, nor a module
that loads one (the settings do, through the broker settings). What it needs of the engine is
declared in :mod:`streams.window.ports`, which :mod:`streams.engine` implements, and what it
reads of the settings in :mod:`streams.window.config` (tests/test_layering.py holds the imports
to this).
"""
