# `make bench`: the performance benchmarks and the accuracy benchmark, side by side on this
# machine. Not a test: it is not in EXTRA_TESTS. Takes ~5 minutes on 2 cores.
BENCH_SYSTEM_PACKAGES := ghostscript

bench-deps: $(VENV)/.bench-installed
$(VENV)/.bench-installed: pyproject.toml | venv
	@SYSTEM_PACKAGES="$(BENCH_SYSTEM_PACKAGES)" bash scripts/system-deps.sh
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

bench: deps bench-deps
	$(PY) -m benchmarks.run $(BENCH_ARGS)
	$(PY) -m benchmarks.accuracy

.PHONY: bench-deps
