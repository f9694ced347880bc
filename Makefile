# twinbert: `make demo` shows it working, `make test` runs the whole test suite.
# Both create .venv on first use and install torch 2.13.0 (CPU), twinbert and what it needs (and Debian's
# chromium + chromium-driver, for the browser test of `twinbert serve`'s page, when they are missing).
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,plot,faiss,multilingual,yaml,serve,ray]'
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }
	touch $(STAMP)

install: $(STAMP)

demo: install
	@mkdir -p out
	HF_HUB_OFFLINE=1 $(BIN)/twinbert info all-MiniLM-L6-v2
	HF_HUB_OFFLINE=1 $(BIN)/twinbert similarity "A man is playing a guitar." "Someone is playing an instrument." \
		"A woman is slicing an onion." "The stock market fell sharply today." --plot out/similarity.png
	HF_HUB_OFFLINE=1 $(BIN)/twinbert compare \
		"A yellow rubber duck floats in a bathtub next to a bar of soap on a small wooden table." \
		"rubber duck" "table" "stock market" --poolings cls,pooler,mean,max --plot out/compare.png
	@echo "plots: out/similarity.png out/compare.png"

test: install
	$(BIN)/ruff check src
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

bench: install
	$(PY) -m pip install -q -e '.[bench]'
	HF_HUB_OFFLINE=1 $(PY) benchmarks/encode.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/train.py --part speed

clean:
	rm -rf $(VENV) out build *.egg-info
