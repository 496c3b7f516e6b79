"""Tests of :mod:`streams.client`: pure logic as unit tests, Kafka against the embedded broker."""
