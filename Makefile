# musiclib — two commands on a fresh machine:
#   make run    set up .venv and run the main job on the embedded folk corpus
#   make test   set up .venv and run the whole test suite (units + notebooks under nbval)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.musiclib-installed
RUN    ?= default
EPOCHS ?=
PRESET ?=
TEST_WORKERS ?= 0  # make test TEST_WORKERS=2: pytest-xdist workers (see README, Tests); 0: one process

.PHONY: setup run quick test benchmark figures readme clean help

help:
	@echo "make run        set up and run the walkthrough on the embedded folk corpus (about 12 min on 2 cores; PRESET=default trains to convergence, EPOCHS=N)"
	@echo "make quick      the same in quick mode (small models, a few minutes)"
	@echo "make test       set up and run the test suite (TEST_WORKERS=2: on two pytest-xdist workers, see README)"
	@echo "make figures    make run, then copy its reference figures to figures/"
	@echo "make benchmark  run the speed benchmarks (prints a table, writes benchmarks/results.json)"
	@echo "make readme     copy the committed result tables into README.md"
	@echo "make clean      remove .venv and caches"

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) musiclib/audio/setup_hint.py
	@echo "==> Setting up $(VENV) (Python: $$($(PYTHON) --version 2>&1))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> Installing requirements with uv (about 3 GB the first time; reused afterwards; pip if uv fails)"
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python -r requirements.txt \
		|| $(BIN)/python -m pip install --quiet -r requirements.txt
	@echo "==> Installing musiclib in editable mode"
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python --no-deps -e . \
		|| $(BIN)/python -m pip install --quiet --no-deps -e .
	@if [ -d .git ]; then \
		$(BIN)/nbstripout --install >/dev/null && \
		git config filter.nbstripout.clean '"$(CURDIR)/$(BIN)/python" -m nbstripout --keep-count' && \
		echo "==> git filter installed: notebooks are committed without outputs (but cells tagged keep_output)"; \
	fi
	@touch $(STAMP)

setup: $(STAMP)
	@$(BIN)/python -m musiclib.kernelspec install
	@$(BIN)/python -c "import fluidsynth" 2>/dev/null \
		|| $(BIN)/python musiclib/audio/setup_hint.py
	@echo "==> $(VENV) is ready (JupyterLab: $(BIN)/jupyter lab, then pick the \"musiclib (.venv)\" kernel)"

run: setup
	@echo "==> Running the walkthrough on the embedded folk corpus into runs/$(RUN)/"
	$(BIN)/musiclib pipeline --name $(RUN)$(if $(EPOCHS), --epochs $(EPOCHS))$(if $(PRESET), --preset $(PRESET))

quick: setup
	@echo "==> Running the walkthrough in quick mode into runs/quick/"
	$(BIN)/musiclib pipeline --name quick --quick

test: setup
	@echo "==> Running the test suite (notebooks in quick mode)"
	$(BIN)/python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

figures: run
	@echo "==> Copying the reference figures of runs/$(RUN)/ to figures/"
	$(BIN)/musiclib figures runs/$(RUN) --out figures

benchmark: setup
	$(BIN)/python benchmarks/run.py

readme: setup
	$(BIN)/python benchmarks/update_readme.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
