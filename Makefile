# The two commands that matter: `make up` runs the whole system, `make test` passes every test.
SHELL := /bin/bash
UV ?= uv
export UV_LINK_MODE ?= copy

.PHONY: help install up down status dead-letters replay-dead-letters test test-python test-web test-e2e lint check-imports check-api-types bench bench-million eval chaos clean

help:
	@echo "make up      - install what is missing, migrate, start every service (gateway on :8000)"
	@echo "make down    - stop everything make up started"
	@echo "make status  - which processes run, and the Postgres connections the stack holds"
	@echo "make replay-dead-letters - send every recorded dead letter back to its service's queue"
	@echo "make test    - run every test (Python, web unit, end-to-end in Chromium, deploy checks)"
	@echo "make bench   - benchmarks that print figures"
	@echo "make bench-million - a million tickets: list, search and stats p50/p95 with EXPLAIN (~10 min)"
	@echo "make eval    - triage quality on ../shared/data (when present)"
	@echo "make chaos   - the long fault-injection run (10,000 tickets)"

install:
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

up: install
	@$(UV) run --no-sync python scripts/stack.py up

down:
	@$(UV) run --no-sync python scripts/stack.py down

status:
	@$(UV) run --no-sync python scripts/stack.py status

dead-letters:
	@$(UV) run --no-sync python scripts/dead_letters.py

replay-dead-letters:
	@$(UV) run --no-sync python scripts/dead_letters.py --replay

check-imports:
	@$(UV) run --no-sync python scripts/check_imports.py

lint: install
	@$(UV) run --no-sync ruff format --check .
	@$(UV) run --no-sync ruff check .
	@$(UV) run --no-sync mypy shared/shared testing/helpdesk_testing gateway/gateway services/auth/auth services/tickets/tickets \
		services/triage/triage services/notifier/notifier

test: install check-imports lint check-api-types test-python test-web test-e2e

test-python: install
	@bash deploy/install-tools.sh
	@$(UV) run --no-sync pytest

# the web app's types generated from the gateway's OpenAPI (web/src/api/schema.d.ts) are current
check-api-types: install
	@bash scripts/web.sh types

test-web:
	@bash scripts/web.sh unit

test-e2e: install
	@bash scripts/web.sh e2e

bench: install
	@$(UV) run --no-sync python bench/run_all.py

# takes /tmp/helpdesk-stack.lock itself, starts and purges a stack instance of its own
bench-million: install
	@$(UV) run --no-sync python bench/million.py

eval: install
	@$(UV) run --no-sync python bench/eval_triage.py

chaos: install
	@$(UV) run --no-sync python tests/chaos/run.py --tickets 10000

clean: down
	rm -rf var
