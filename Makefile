# Shuzhi: `make run` (fresh clone → running portal) and `make test`. Needs Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FLASK  := $(BIN)/flask --app portal
PORT   ?= 5000
# pytest-xdist workers for `make test` (each has its own PostgreSQL database; 0 = no xdist).
TEST_WORKERS ?= 2

.PHONY: run setup install translations messages test lint bench bot clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Shuzhi needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

translations: install
	$(BIN)/pybabel compile --use-fuzzy -d locales

# Re-extract the msgids after changing user-facing text, then translate the new entries in
# locales/zh_Hans_CN/LC_MESSAGES/messages.po (tests/web/test_i18n.py fails on any left out).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -k lazy_pgettext:1c,2 \
		-o locales/messages.pot .
	$(BIN)/pybabel update -i locales/messages.pot -d locales --no-fuzzy-matching

setup: install translations
	$(FLASK) setup-demo

run: setup
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install translations
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal

bench: install translations
	$(BIN)/python bench/nlp.py

bot: install
	$(BIN)/python -m bot

clean:
	rm -rf $(VENV) instance .pytest_cache test-output
