# Benchmarks (never part of `make test`). Included from the top-level Makefile.
# Needs the venv (`make install`) and, for the gateway, the local RabbitMQ (BENCH_AMQP_URL,
# default amqp://guest:guest@127.0.0.1:5672/%2F).
BENCH_PYTHON ?= $(BIN)/python
BENCH_GATEWAY_ARGS ?=

.PHONY: bench-gateway bench-gateway-smoke

## Gateway vs bare `ocpp` baseline, same load, same run (issue 3): ~10 minutes at full size.
bench-gateway:
	$(BENCH_PYTHON) -m bench.gateway.run $(BENCH_GATEWAY_ARGS)

## The same three scenarios at 5 % size with 2 s steady phases: about a minute.
bench-gateway-smoke:
	$(BENCH_PYTHON) -m bench.gateway.run --scale 0.05 --duration 2 $(BENCH_GATEWAY_ARGS)

.PHONY: bench-commands bench-commands-smoke

## Remote commands: 1,000 stations, API → gateway → charger → API vs a direct call (issue 6).
bench-commands:
	$(BENCH_PYTHON) -m bench.commands.run

## The same with 50 stations and 200 requests per series: about 30 s.
bench-commands-smoke:
	$(BENCH_PYTHON) -m bench.commands.run --stations 50 --requests 200

.PHONY: bench-auth bench-auth-smoke

## Authentication's cost: GET /charges with and without auth, same run; argon2id per password.
bench-auth:
	$(BENCH_PYTHON) -m bench.accounts.run

bench-auth-smoke:
	$(BENCH_PYTHON) -m bench.accounts.run --requests 200 --hash-rounds 3

.PHONY: bench-outbox

## The outbox's cost on an API write, with and without it, same run (PostgreSQL).
bench-outbox:
	$(BENCH_PYTHON) -m bench.accounts.outbox

.PHONY: bench-authorize bench-authorize-smoke

## Authorize from the id tag copy (100,000 tags, 500 calls/s) vs accept-all, same run (issue 15).
bench-authorize:
	$(BENCH_PYTHON) -m bench.gateway.authorize_tags

bench-authorize-smoke:
	$(BENCH_PYTHON) -m bench.gateway.authorize_tags --tags 2000 --duration 3 --warmup 2 --rounds 1

.PHONY: bench-dashboard

## The dashboard's overview with 1,000 and 10,000 stations vs the API's list, same run.
bench-dashboard:
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.dashboard.overview

.PHONY: bench-dashboard-live
## The overview's live updates in Chromium at 100 events/s on 1,000 stations (long tasks,
## frames); the script on main as the same-run baseline.
bench-dashboard-live:
	git show main:save-server/src/save_server/infrastructure/dashboard/static/dashboard.js \
		> /tmp/csms-dashboard-main.js
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.dashboard.live_browser \
		--before-script /tmp/csms-dashboard-main.js
.PHONY: bench-local-lists bench-local-lists-smoke

## Local lists: a full list of 10,000 tags to 100 stations through the gateway vs a direct send.
bench-local-lists:
	$(BENCH_PYTHON) -m bench.local_lists.run

## The same with 10 stations and 1,000 tags: a few seconds.
bench-local-lists-smoke:
	$(BENCH_PYTHON) -m bench.local_lists.run --stations 10 --tags 1000

## Local lists at scale: a card import while 2,000 stations connect (the sync on SQLite).
.PHONY: bench-local-list-sync
bench-local-list-sync:
	$(BENCH_PYTHON) -m bench.local_lists.sync_scale

.PHONY: bench-load

## Load management: allocation time of one site with 200 connectors (target ≤ 20 ms p99), and
## the allocation lag of 1,000 sites x 10 connectors under 200 starts/stops per second.
bench-load:
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.load.allocate --connectors 200
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.load.lag --rate 200 --seconds 20

.PHONY: bench-load-path

## Load management: allocation lag through the full path (station → gateway → broker → load
## queue → allocation → SetChargingProfile → station), embedded mode; --mode services for
## RabbitMQ/PostgreSQL. The target's size (1,000 sites x 10, 200/s) needs a quiet machine.
bench-load-path:
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.load.path --sites 1000 --stations 10 --rate 200 --seconds 60

.PHONY: bench-embedded bench-embedded-smoke
BENCH_EMBEDDED_ARGS ?=

## `make run` under load (issue 19): 2,000 stations at 900 calls/s (p99, failed calls) and
## 10,000 idle stations (RSS of the process tree), with the services-mode gateway alone on
## RabbitMQ as the same-run baseline: about 5 minutes.
bench-embedded:
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.embedded.run $(BENCH_EMBEDDED_ARGS)

## The same at 10 % size with 8 s steady phases: about a minute.
bench-embedded-smoke:
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.embedded.run --smoke $(BENCH_EMBEDDED_ARGS)
