# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := embedded ocpp-events save-server event-store
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed

.PHONY: run test install lint run-services fault clean secrets

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
## In TEST_WORKERS (default 2) pytest processes (pytest-xdist), each taking a whole test file at
## a time so a module's platform starts once, the whole-platform files first (conftest.py):
## about 9 minutes on a quiet 2-core machine. TEST_WORKERS=0 runs them in one process (~17).
## First enables RabbitMQ's bundled consistent-hash plugin and installs Debian's Chromium for the
## dashboard's browser tests when missing (or stops with the command to run).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python tests/rabbitmq_plugin.py
	$(BIN)/python tests/browser_ready.py
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## Each role as its own process against real servers (set AMQP_URL and DATABASE_URL first).
run-services: $(STAMP) secrets/auth-signing-key.pem
	@test -n "$$AMQP_URL" || (echo "set AMQP_URL, e.g. amqp://guest:guest@127.0.0.1:5672/%2F" && exit 2)
	@test -n "$$DATABASE_URL" || (echo "set DATABASE_URL, e.g. postgresql+psycopg2://postgres@127.0.0.1/csms" && exit 2)
	$(BIN)/python -m save_server migrate
	AUTH_SIGNING_KEY_FILE=$${AUTH_SIGNING_KEY_FILE:-$(CURDIR)/secrets/auth-signing-key.pem} \
	AUTH_PUBLIC_KEYS_FILE=$${AUTH_PUBLIC_KEYS_FILE:-$(CURDIR)/secrets/auth-public-key.pem} \
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start -f Procfile

## Fault runs (not in `make test`): stops the machine's RabbitMQ for > 10 s while chargers send.
fault: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m fault tests/fault

## Services mode and compose: the access-token signing key pair under ./secrets (never committed).
secrets: secrets/auth-signing-key.pem secrets/gateway-cert.pem

## A self-signed certificate for the gateway's wss:// (a first try; chargers need a real one).
secrets/gateway-cert.pem:
	mkdir -p secrets
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
	  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	  -keyout secrets/gateway-key.pem -out secrets/gateway-cert.pem
	chmod 600 secrets/gateway-key.pem

secrets/auth-signing-key.pem: | $(STAMP)
	$(BIN)/python -m save_server generate-signing-key --out secrets

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .data

-include bench/bench.mk
-include bench/services.mk
-include bench/scaleout.mk
