# Every target bootstraps uv and .venv itself (scripts/bootstrap.sh): a new machine needs only
# Python 3.11+, git and make.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
RUN := .venv/bin

.PHONY: bootstrap demo test bench lint typecheck serve clean

bootstrap:
	@./scripts/bootstrap.sh >/dev/null

demo: bootstrap
	$(RUN)/fincredit demo

serve: bootstrap
	$(RUN)/fincredit serve

# The browser tests need Debian's chromium: the bootstrap installs it when missing.
test:
	@FINCREDIT_SYSTEM_DEPS=chromium ./scripts/bootstrap.sh >/dev/null
	./scripts/test.sh

# The static gates of `make test`, alone: ruff, formatting, mypy (every member, strict), import contracts.
lint: bootstrap
	./scripts/test.sh --static-only

typecheck: bootstrap
	$(RUN)/mypy

# make bench            — every benchmark
# make bench NAME=consent — one of them (bench/<NAME>.py)
bench:
	@FINCREDIT_SYNC_EXTRA="--group bench" ./scripts/bootstrap.sh >/dev/null
	$(RUN)/python -m bench $(NAME)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache test-artifacts
