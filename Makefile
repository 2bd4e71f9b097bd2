# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := embedded ocpp-events save-server event-store
STAMP := $(VENV)/.installed

.PHONY: run test install lint run-services fault clean

$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(foreach p,$(PACKAGES),-e ./$(p)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

## Start the whole platform in one process (in-process broker, SQLite under ./.data).
run: $(STAMP)
	$(BIN)/python -m csms_embedded

## Run every test (unit, integration against the local PostgreSQL and RabbitMQ, end-to-end).
## First enables RabbitMQ's bundled consistent-hash plugin (or stops with the command to run).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tests/rabbitmq_plugin.py
	$(BIN)/python -m pytest

## Each role as its own process against real servers (set AMQP_URL and DATABASE_URL first).
run-services: $(STAMP)
	@test -n "$$AMQP_URL" || (echo "set AMQP_URL, e.g. amqp://guest:guest@127.0.0.1:5672/%2F" && exit 2)
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL, e.g. postgresql+psycopg2://postgres@127.0.0.1/csms" && exit 2)
	$(BIN)/python -m save_server migrate
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start -f Procfile

## Fault runs (not in `make test`): stops the machine's RabbitMQ for > 10 s while chargers send.
fault: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m fault tests/fault

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .data

-include bench/bench.mk
-include bench/services.mk
-include bench/scaleout.mk
