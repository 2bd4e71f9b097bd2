# Scale-out benchmark (issue 8). Included from the top-level Makefile.
# Needs the venv (`make install`), PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672
# (BENCH_AMQP_URL). Creates its own database / exchange / queues / SQLite file, removes them.
# Figures: docs/performance.md; method and runs: docs/performance-log.md ("Scale-out on one machine").
BIN := .venv/bin
BENCH_SCALEOUT_ARGS ?=

.PHONY: bench-scaleout bench-scaleout-smoke

## save-server and event-store ingest, 1 vs 2 workers draining the same 20,000-event backlog.
bench-scaleout:
	$(BIN)/python -m bench.scaleout.run $(BENCH_SCALEOUT_ARGS)

## The same on 2,000 events: under a minute.
bench-scaleout-smoke:
	$(BIN)/python -m bench.scaleout.run --events 2000 --stations 100 $(BENCH_SCALEOUT_ARGS)
