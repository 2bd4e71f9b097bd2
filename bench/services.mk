# save-server and event-store benchmarks (issues 4 and 5). Included from the top-level Makefile.
# Need the venv (`make install`), PostgreSQL on 127.0.0.1:5432 and RabbitMQ on 127.0.0.1:5672
# (BENCH_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/%2F). Each run creates its own
# database / queues / exchanges / temp files and removes them at the end. Figures:
# docs/performance.md; method and every run: docs/performance-log.md; raw results:
# bench/results/<time>-save-server|event-store/.
BIN := .venv/bin
BENCH_SAVE_SERVER_ARGS ?=
BENCH_EVENT_STORE_ARGS ?=

.PHONY: bench-save-server bench-save-server-smoke bench-event-store bench-event-store-smoke

## 1,000,000 charges / 10,000 stations in PostgreSQL: API latency, CSV RSS, worker ingest.
bench-save-server:
	$(BIN)/python -m bench.save_server.run $(BENCH_SAVE_SERVER_ARGS)

## The same scenarios on 50,000 charges / 1,000 stations with short runs: under a minute.
bench-save-server-smoke:
	$(BIN)/python -m bench.save_server.run --smoke $(BENCH_SAVE_SERVER_ARGS)

## 5,000,000 events in SQLite: GET /events, replay, ingest (in-process broker and RabbitMQ).
bench-event-store:
	$(BIN)/python -m bench.event_store.run $(BENCH_EVENT_STORE_ARGS)

## The same scenarios on 100,000 events with short runs: under a minute.
bench-event-store-smoke:
	$(BIN)/python -m bench.event_store.run --smoke $(BENCH_EVENT_STORE_ARGS)
