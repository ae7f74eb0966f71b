# Web dashboard (internal/ops/ui, docs/ui.md) and its browser test.
#   make chromium   install Debian's chromium if no Chromium/Chrome is on
#                   PATH (apt-get as root, else through sudo; the .debs are
#                   kept in $(TOPSPEED_CACHE)/apt); says on stderr what and why
#   make ui-test    the browser tests alone (cmd/topspeed TestUI*): a real
#                   topspeed and a real headless Chromium; a screenshot goes
#                   to $$TOPSPEED_ARTIFACTS (and to docs/ui.png with
#                   TOPSPEED_UI_SCREENSHOT=docs/ui.png)
#   make ui-bench   the dashboard's CPU cost: events/s with the page open
#                   and refreshing vs closed, interleaved (TestUICost)
.PHONY: chromium ui-test ui-bench

CHROMIUM_WHY := the dashboard's browser test (cmd/topspeed/ui_test.go) loads the page in a real headless Chromium

chromium:
	@set -euo pipefail; \
	say() { echo "==> chromium: $$*" >&2; }; \
	for b in chromium chromium-browser google-chrome google-chrome-stable; do \
		if command -v $$b >/dev/null; then exit 0; fi; \
	done; \
	if ! command -v apt-get >/dev/null; then \
		say "no Chromium on PATH and no apt-get: install Chromium or Chrome ($(CHROMIUM_WHY))"; exit 1; fi; \
	sudo=(); apt=(apt-get -y -qq); \
	if [ "$$(id -u)" = 0 ]; then \
		mkdir -p "$(TOPSPEED_CACHE)/apt/partial"; apt+=(-o "Dir::Cache::Archives=$(TOPSPEED_CACHE)/apt"); \
	elif command -v sudo >/dev/null && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then sudo=(sudo); \
	else say "no Chromium on PATH; installing Debian's chromium needs root or sudo: run 'sudo apt-get install chromium' ($(CHROMIUM_WHY))"; exit 1; fi; \
	say "installing Debian's chromium package with $${sudo[*]:+sudo }apt-get (and its dependencies, ~100 MB): $(CHROMIUM_WHY)"; \
	rc=0; \
	if ! "$${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "$${apt[@]}" install chromium >/dev/null 2>&1; then \
		say "apt-get install failed: running apt-get update first"; \
		{ "$${sudo[@]}" apt-get update -qq && "$${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "$${apt[@]}" install chromium >/dev/null; } || rc=$$?; \
	fi; \
	[ $$rc = 0 ] || { say "apt-get install chromium failed"; exit 1; }; \
	command -v chromium >/dev/null || { say "chromium did not install"; exit 1; }; \
	say "installed $$(chromium --version 2>/dev/null | head -n 1); remove it with: $${sudo[*]:+sudo }apt-get remove chromium"

ui-test: chromium
	TOPSPEED_REQUIRE_SERVERS=1 $(GO) test -count=1 -timeout 10m -run 'TestUI' -v ./cmd/topspeed

ui-bench: chromium
	TOPSPEED_UI_COST=1 TOPSPEED_REQUIRE_SERVERS=1 $(GO) test -count=1 -timeout 10m -run 'TestUICost' -v ./cmd/topspeed
