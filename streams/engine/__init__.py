"""The Faust boundary: the only code that imports faust or mode, or touches their internals.

The app and its topics (:mod:`.app`), the gapless consumer (:mod:`.consumer`, :mod:`.tansu` for
the embedded broker), the last-applied table (:mod:`.table`), windows over the stream
(:mod:`.windows`), batched producing (:mod:`.sink`), the commit protocol
(:mod:`.checkpoint`), the crash guard (:mod:`.guard`), the agent (:mod:`.agent`), sensors and
web pages (:mod:`.monitor`), the worker process (:mod:`.runner`), and every private member used,
in :mod:`.internals`. Nothing is imported here, so a module that needs one part (the pipeline
needs the checkpoint) loads no more.
"""
