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

.PHONY: bench-load

## Load management: allocation time of one site with 200 connectors (target ≤ 20 ms p99), and
## the allocation lag of 1,000 sites x 10 connectors under 200 starts/stops per second.
bench-load:
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.load.allocate --connectors 200
	flock /tmp/csms-bench.lock $(BENCH_PYTHON) -m bench.load.lag --rate 200 --seconds 20
