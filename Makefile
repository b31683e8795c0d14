# PinScope: two virtual environments (Blender's bpy needs numpy<2, the trainer wants numpy 2).
# Every target sets up what it needs; `make setup` twice does nothing the second time.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENVS := .venvs
BPY_ENV := $(VENVS)/blender
TRAIN_ENV := $(VENVS)/trainer
BPY_PY := $(BPY_ENV)/bin/python
TRAIN_PY := $(TRAIN_ENV)/bin/python
BPY_STAMP := $(BPY_ENV)/.pinscope-ready
TRAIN_STAMP := $(TRAIN_ENV)/.pinscope-ready
SPEC ?= specs/default.json
DATA ?= data/default
RUN ?= runs/default
CKPTS ?=
PYTEST_FLAGS ?= -q

.PHONY: robustness doc-images validate bench peer-bench setup test test-matrix test-contract test-blender test-trainer lint format render train attention predict demo addon bench clean export check-anomalib

setup: $(BPY_STAMP) $(TRAIN_STAMP)

$(BPY_STAMP): Makefile requirements/blender.txt
	@echo "== setting up the Blender env ($(BPY_ENV)): bpy module, numpy<2, pytest"
	test -x $(BPY_PY) || $(PYTHON) -m venv $(BPY_ENV)
	$(BPY_PY) -m pip install -q --disable-pip-version-check -r requirements/blender.txt
	$(BPY_PY) -c "import site,os; p=site.getsitepackages()[0]; open(os.path.join(p,'pinscope-repo.pth'),'w').write(os.path.abspath('shared')+'\n'+os.path.abspath('.')+'\n')"
	touch $@

$(TRAIN_STAMP): Makefile trainer/pyproject.toml shared/pyproject.toml
	@echo "== setting up the trainer env ($(TRAIN_ENV)): torch, transformers, datasets, ..."
	test -x $(TRAIN_PY) || $(PYTHON) -m venv $(TRAIN_ENV)
	$(TRAIN_PY) -m pip install -q --disable-pip-version-check -e "./shared[test]" -e "./trainer[dev]"
	touch $@

# CI runs `make test BLENDER_TIER=test-matrix`: the same tiers, the Blender one on every supported Blender.
BLENDER_TIER ?= test-blender
test: setup
	$(MAKE) --no-print-directory test-contract $(BLENDER_TIER) test-trainer lint

# The Blender tier on every supported Blender line: 4.2 LTS, 4.5 LTS, 5.0 (bpy from pip, Python 3.11,
# numpy<2, each in its own env). 5.0 is the default env (.venvs/blender: bpy>=4.2,<5.1 resolves to 5.0.x).
BPY_MATRIX ?= 4.2 4.5
test-matrix: $(BPY_STAMP) $(foreach v,$(BPY_MATRIX),$(VENVS)/bpy-$(v)/.pinscope-ready)
	@# 4.x legs: one Blender process per test file. On bpy 4.5.15 four region tests of a `missing` pin fail
	@# (23-30 dB) only after other files ran in the same process, and pass alone: a state leak between
	@# files, not yet found (reported); 5.0 runs the tier in one process as `make test` does.
	@for v in $(BPY_MATRIX); do \
	  echo "== Blender tier on bpy $$v ($(VENVS)/bpy-$$v), one process per file"; \
	  for f in tests/addon/test_*.py; do $(VENVS)/bpy-$$v/bin/python -m pytest $(PYTEST_FLAGS) $$f || exit 1; done; \
	done
	@echo "== Blender tier on bpy 5.0 ($(BPY_ENV))"
	$(BPY_PY) -c "import bpy, sys; sys.exit(0 if bpy.app.version[:2] == (5, 0) else 'expected bpy 5.0.x in $(BPY_ENV)')"
	$(BPY_PY) -m pytest $(PYTEST_FLAGS) tests/addon

$(VENVS)/bpy-%/.pinscope-ready: Makefile requirements/blender.txt
	@echo "== setting up the bpy $* env ($(VENVS)/bpy-$*)"
	test -x $(VENVS)/bpy-$*/bin/python || $(PYTHON) -m venv $(VENVS)/bpy-$*
	$(VENVS)/bpy-$*/bin/python -m pip install -q --disable-pip-version-check -r requirements/blender.txt "bpy>=$*,<$*.999"
	$(VENVS)/bpy-$*/bin/python -c "import site,os; p=site.getsitepackages()[0]; open(os.path.join(p,'pinscope-repo.pth'),'w').write(os.path.abspath('shared')+'\n'+os.path.abspath('.')+'\n')"
	touch $@

test-contract: $(TRAIN_STAMP)
	@echo "== contract tier (standard library + the real datasets loader)"
	$(TRAIN_PY) -m pytest $(PYTEST_FLAGS) tests/contract

test-blender: $(BPY_STAMP)
	@echo "== Blender tier (bpy module; the real blender binary where one is on PATH)"
	@if [ -d tests/addon ] && ls tests/addon/test_*.py >/dev/null 2>&1; then \
	  $(BPY_PY) -m pytest $(PYTEST_FLAGS) tests/addon; else echo "no Blender tests yet"; exit 1; fi

test-trainer: $(TRAIN_STAMP)
	@echo "== trainer tier (tiny models, few steps)"
	@if ls tests/trainer/test_*.py >/dev/null 2>&1; then \
	  $(TRAIN_PY) -m pytest $(PYTEST_FLAGS) tests/trainer; else echo "no trainer tests yet"; exit 1; fi

lint: $(TRAIN_STAMP)
	$(TRAIN_ENV)/bin/ruff check .
	$(TRAIN_ENV)/bin/ruff format --check .

format: $(TRAIN_STAMP)
	$(TRAIN_ENV)/bin/ruff format .

clean:
	rm -rf $(VENVS) .pytest_cache .ruff_cache dist

# --- the product's jobs ----------------------------------------------------------------------
RENDER_ARGS ?= --workers 2

render: $(BPY_STAMP)
	$(BPY_PY) -m blender_addon.cli render --spec $(SPEC) --out $(DATA) $(RENDER_ARGS)

validate: $(BPY_STAMP)
	$(BPY_PY) -m blender_addon.cli validate $(DATA)

# Exports for other tools (docs/exports.md): coco, yolo, mvtec, anomalib-csv. Standard library only, so
# any Python 3.10+ runs them without an environment. Resumes a killed export; a finished one does nothing.
FORMAT ?= coco
OUT ?= exports/$(notdir $(DATA))-$(FORMAT)
export:
	PYTHONPATH=shared $(PYTHON) -m pinscope_schema.export --format $(FORMAT) $(DATA) $(OUT)

# anomalib, a real consumer of the MVTec AD export, in its own optional env (.venvs/anomalib: lightning, timm,
# kornia, ~3 min to set up). Not part of `make test`: it trains PaDiM on the whole dataset (~3 min on 2 cores).
ANOMALIB_ENV := $(VENVS)/anomalib
ANOMALIB_PY := $(ANOMALIB_ENV)/bin/python
ANOMALIB_STAMP := $(ANOMALIB_ENV)/.pinscope-ready
ANOMALIB_ARGS ?=
$(ANOMALIB_STAMP): requirements/anomalib.txt
	@echo "== setting up the anomalib env ($(ANOMALIB_ENV))"
	test -x $(ANOMALIB_PY) || $(PYTHON) -m venv $(ANOMALIB_ENV)
	$(ANOMALIB_PY) -m pip install -q --disable-pip-version-check -r requirements/anomalib.txt
	touch $@

check-anomalib: $(ANOMALIB_STAMP)
	PYTHONPATH=shared $(ANOMALIB_PY) tools/check_anomalib.py --data $(DATA) --out exports/$(notdir $(DATA))-mvtec $(ANOMALIB_ARGS)

# The recommended recipe (docs/trainer.md): ViT tiny on diff against the unit reference, with patch-token
# supervision from the defect boxes, each image registered onto the unit reference and gain-matched (the
# default data randomises light, housing and camera pose: docs/trainer.md#matching-the-reference-to-each-image;
# register-image over register: docs/robustness.md); each defect drawn at 0.4-1 x its contrast against
# its twin and the OK residual at 1-1.5 x (a lighter housing halves a defect's difference:
# docs/robustness.md#the-defects-contrast), and the unit mean up to 0.25 px off its registration (the edges a
# pin top standing above the moulding leaves: docs/robustness.md#misregistration-drawn-in-training-tenth-session);
# epochs 5/10/15 kept for the attention evolution. --resume: a second
# `make train` (or one after `make demo`) finishes or reuses the run in RUN instead of refusing the folder.
DEFAULT_TRAIN_ARGS := --epochs 15 --save-epochs 5,10,15 --token-loss 1.0 --align register-image \
	--aug-defect-contrast 0.4 --aug-residual 1.5 --aug-misregister 0.25
TRAIN_ARGS ?= $(DEFAULT_TRAIN_ARGS)

train: $(TRAIN_STAMP)
	$(TRAIN_PY) -m pinscope_trainer.cli train --data $(DATA) --out $(RUN) --resume $(TRAIN_ARGS)

attention: $(TRAIN_STAMP)
	$(TRAIN_PY) -m pinscope_trainer.cli attention --run $(RUN) $(if $(CKPTS),--ckpts $(CKPTS),) $(ATTN_ARGS)

# Classify new images with the run's best checkpoint (docs/trainer.md#predict), e.g.
#   make predict IMAGES="data/default/test"          IMAGES: files, folders or globs (PNG/JPEG)
# writes predictions/<run name>/ (predictions.csv, .jsonl, overlays/, index.html); PREDICT_ARGS adds options.
IMAGES ?=
PREDICT_ARGS ?=
predict: $(TRAIN_STAMP)
	$(TRAIN_PY) -m pinscope_trainer.cli predict --checkpoint $(RUN)/checkpoints/best --out predictions/$(notdir $(RUN)) $(IMAGES) $(PREDICT_ARGS)

# The documentation's preset and lighting pictures (docs/img/presets.png, lighting.png), rendered from the specs.
doc-images: setup
	$(BPY_PY) tools/render_doc_renders.py --out build/doc-renders
	cd tools && ../$(TRAIN_PY) make_part_images.py --renders ../build/doc-renders --out ../docs/img

addon: $(BPY_STAMP)
	$(BPY_PY) tools/build_addon.py --out dist

# The demo: render the default spec, train the default ViT (keeping epochs for the attention evolution),
# draw the attention report, run the quick robustness suite, print what it found. Every step resumes, so
# a second run is quick. (Rendering the suite's sets beside training at nice 19 was tried: training's
# two threads left too little idle time, 2 sets of 10 in 6 minutes, and the demo took 1089 s against 1100.)
DEMO_DATA ?= data/default
DEMO_RUN ?= runs/default
DEMO_TRAIN_ARGS ?= $(DEFAULT_TRAIN_ARGS)
demo: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory render SPEC=specs/default.json DATA=$(DEMO_DATA) && \
	$(MAKE) --no-print-directory train DATA=$(DEMO_DATA) RUN=$(DEMO_RUN) TRAIN_ARGS="$(DEMO_TRAIN_ARGS)" && \
	$(MAKE) --no-print-directory attention RUN=$(DEMO_RUN) CKPTS=all && \
	$(MAKE) --no-print-directory robustness RUN=$(DEMO_RUN) ROBUSTNESS_ARGS="$(DEMO_ROBUSTNESS_ARGS)" && \
	$(TRAIN_PY) tools/demo_summary.py --data $(DEMO_DATA) --run $(DEMO_RUN) --report reports/$(notdir $(DEMO_RUN))/attention \
	  --robustness reports/robustness/$(notdir $(DEMO_RUN))-quick && \
	echo "demo wall time (after set-up): $$(( $$(date +%s) - start )) s"

# The robustness suite (bench/robustness.py): shift sets beyond the training spec's randomised ranges, scored
# with evaluate --data; the demo runs a quick version (48 test images and 20 references a set), the docs' table the full one.
ROBUSTNESS_ARGS ?=
DEMO_ROBUSTNESS_ARGS ?= --test 48 --reference 20 --quiet --out reports/robustness/$(notdir $(DEMO_RUN))-quick
robustness: setup
	$(TRAIN_PY) bench/robustness.py --run $(RUN) $(ROBUSTNESS_ARGS)

bench: setup
	$(BPY_PY) bench/render_bench.py
	$(BPY_PY) bench/render_scale_bench.py
	$(TRAIN_PY) bench/train_bench.py

# PinScope vs BlenderProc 2.8 (bench/peer_bench.py) in an env of its own: bpy 4.2 LTS + blenderproc from pip.
# It runs with no network at all (a private network namespace), so nothing can be downloaded at run time.
BPROC_ENV := $(VENVS)/blenderproc
PEER_ARGS ?=
$(BPROC_ENV)/.pinscope-ready: Makefile requirements/blenderproc.txt
	@echo "== setting up the BlenderProc env ($(BPROC_ENV)): bpy 4.2, blenderproc 2.8 and what it needs"
	test -x $(BPROC_ENV)/bin/python || $(PYTHON) -m venv $(BPROC_ENV)
	$(BPROC_ENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements/blenderproc.txt
	touch $@

peer-bench: $(BPROC_ENV)/.pinscope-ready
	unshare -rn env USE_EXTERNAL_BPY_MODULE=1 $(BPROC_ENV)/bin/python bench/peer_bench.py $(PEER_ARGS)

# The defect-size sweep (bench/size_sweep.py): test sets of one defect class at a series of fixed magnitudes,
# scored with evaluate --data; detection rate per camera view vs magnitude, and the magnitude at 90 %.
SWEEP_MODE ?= tilt_x
SWEEP_ARGS ?=
.PHONY: sweep
sweep: setup
	$(TRAIN_PY) bench/size_sweep.py --run $(RUN) --mode $(SWEEP_MODE) $(SWEEP_ARGS)
