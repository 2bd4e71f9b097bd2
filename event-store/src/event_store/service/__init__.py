"""Use cases: ingest batches, query events, replay them, apply retention."""
