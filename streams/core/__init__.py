"""Pure logic of the pipeline: no Faust, no HTTP, no clock reads (time is passed in)."""
