# lua-bedrock. `make demo` and `make test` install what is missing (as root,
# with apt-get), build, and run. Variables are overridable, LuaRocks style.

# LUA_VERSION: 5.4 (the default), 5.3, 5.1 or luajit (OpenResty's luajit2,
# the one Debian's nginx Lua module links: it takes lib/lua/5.1 modules).
LUA_VERSION ?= 5.4
ifeq ($(LUA_VERSION),luajit)
LUA_ABI     := 5.1
LUA_PC      := luajit
LUA         ?= luajit
else
LUA_ABI     := $(LUA_VERSION)
LUA_PC      := lua$(LUA_VERSION)
LUA         ?= lua$(LUA_VERSION)
endif
# 5.4 builds into build/ (build/bedrock/core.so), every other Lua into
# build/<version>/, so the objects of two Luas never meet on one cpath
BUILD       := $(if $(filter 5.4,$(LUA_VERSION)),build,build/$(LUA_VERSION))
PKG_CONFIG  ?= pkg-config
PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib/lua/$(LUA_ABI)
LUADIR      ?= $(PREFIX)/share/lua/$(LUA_ABI)
BINDIR      ?= $(PREFIX)/bin
TESTDATA    ?= test/data
PYTHON      ?= python3
# the emulator's python: Debian's has python3-h2 (HTTP/2); with another, emulator.py falls back
# to /usr/lib/python3/dist-packages for h2 (see its load_h2), as the self-tests do
EMU_PYTHON  ?= $(firstword $(wildcard /usr/bin/python3) python3)

NPM         ?= npm
NPM_DIR     := spec/support/npm

PKGS        := $(LUA_PC) libcurl libssl libcrypto libdeflate zlib
WARN        := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS      ?= -O2 -g
ALL_CFLAGS  := -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -fvisibility=hidden \
               $(WARN) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS        := $(shell $(PKG_CONFIG) --libs libssl libcrypto libdeflate 2>/dev/null) -pthread
CODEC_LIBS  := $(shell $(PKG_CONFIG) --libs libcrypto libdeflate 2>/dev/null)
CURL_LIBS   := $(shell $(PKG_CONFIG) --libs libcurl libdeflate 2>/dev/null)
LIBFLAG     ?= -shared

# bedrock.codec: the sans-I/O pieces; bedrock.core: the engine and our HTTP/1.1 client, on top
# of it; bedrock.curl: libcurl as the engine's second backend (duplex sessions, proxies), loaded
# by bedrock.core only when a request needs it, so only then is libcurl mapped. The pure C
# pieces each needs (the event-stream decoder, the engine's response side) go into each.
SHARED_SRC  := src/eventstream.c src/json.c src/base64.c src/ljson.c src/lutil.c
CODEC_SRC   := src/sigv4.c $(SHARED_SRC) src/lcodec.c
CORE_SRC    := $(SHARED_SRC) src/xfer.c src/engine.c src/http1.c src/http1_parse.c src/tls.c src/resolve.c \
               src/spawn.c src/sigint.c src/lbedrock.c
CURL_SRC    := src/eventstream.c src/xfer.c src/curl_backend.c src/lcurl.c
CORE_HDR    := $(wildcard src/*.h)
MODULES     := $(BUILD)/bedrock/codec.so $(BUILD)/bedrock/core.so $(BUILD)/bedrock/curl.so

# Debian packages the build, the suite, the demo and the benchmarks need.
# Every Lua the suite runs on: luajit2 (not Debian's luajit, which nginx's Lua module refuses).
DEB_PKGS    := gcc make pkg-config lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev \
               luajit2 libluajit2-5.1-dev libcurl4-openssl-dev libssl-dev \
               zlib1g-dev libdeflate-dev lua-cjson lua-busted luarocks curl python3 python3-h2 valgrind openssl \
               procps ca-certificates git zip unzip lua-ldoc lua-markdown \
               nginx libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core

# .busted names lua5.4 for a plain `busted`; here $(LUA) runs it already, so no second process
# (valgrind and the sanitizers would watch only the first one)
BUSTED      := $(LUA) /usr/bin/busted --ignore-lua

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;./?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps test test-c test-lua test-emulator demo bench bench-js bench-instructions bench-floor install clean asan test-asan \
        valgrind emulator model fuzz fuzz-deps fuzz-build fuzz-seeds soak rock docs

all: $(MODULES)

$(BUILD)/bedrock/codec.so: $(CODEC_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CODEC_SRC) $(CODEC_LIBS)

$(BUILD)/bedrock/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CORE_SRC) $(LIBS)

$(BUILD)/bedrock/curl.so: $(CURL_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CURL_SRC) $(CURL_LIBS)

# Sanitizer build of the modules: the suite loads them with the runtime preloaded.
SAN_FLAGS   := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
build-asan/bedrock/codec.so: $(CODEC_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LIBFLAG) -o $@ $(CODEC_SRC) $(CODEC_LIBS)

build-asan/bedrock/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LIBFLAG) -o $@ $(CORE_SRC) $(LIBS)

build-asan/bedrock/curl.so: $(CURL_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LIBFLAG) -o $@ $(CURL_SRC) $(CURL_LIBS)

asan: build-asan/bedrock/codec.so build-asan/bedrock/core.so build-asan/bedrock/curl.so

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run make deps as root)"; exit 1; fi; \
	fi
	@# the MCP specs run @modelcontextprotocol/server-everything from spec/support/npm (never global)
	@command -v node >/dev/null 2>&1 && command -v $(NPM) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else echo "missing node and npm (run make deps as root)"; exit 1; fi; }
	@[ -d $(NPM_DIR)/node_modules/@modelcontextprotocol/server-everything ] || \
	  (cd $(NPM_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error)
	@# the credential specs run moto's STS server and compare with boto3 (both on the image)
	@$(PYTHON) -c 'import moto.server, boto3' 2>/dev/null || \
	  { echo "python3 needs moto and boto3 (moto.server, boto3) for the credential specs"; exit 1; }

build/test_%: test/test_%.c test/check.h src/%.c src/%.h
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g $(WARN) -Isrc -Itest -o $@ $< src/$*.c -lcrypto -lz -ldeflate

# the native client's pieces: the resolver runs getaddrinfo on threads, tls.c needs libssl
TEST_FLAGS  := -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g $(WARN) -Isrc -Itest
build/test_resolve: test/test_resolve.c test/check.h src/resolve.c src/resolve.h
	@mkdir -p build
	$(CC) $(TEST_FLAGS) -pthread -o $@ $< src/resolve.c

build/test_tls: test/test_tls.c test/check.h src/tls.c src/tls.h
	@mkdir -p build
	$(CC) $(TEST_FLAGS) -pthread -o $@ $< src/tls.c -lssl -lcrypto

C_TESTS     := build/test_sigv4 build/test_eventstream build/test_json build/test_base64 \
               build/test_http1_parse build/test_resolve build/test_tls

test-c: $(C_TESTS)
	build/test_sigv4 $(TESTDATA)
	build/test_eventstream $(TESTDATA)
	build/test_json
	build/test_base64
	build/test_http1_parse
	build/test_resolve
	build/test_tls

# $(PYTHON): botocore there signs and decodes independently of the emulator
test-emulator:
	$(PYTHON) spec/support/test_emulator.py

# BUSTED_FLAGS: e.g. --exclude-tags=soak (CI runs the soak spec on 5.4 only)
BUSTED_FLAGS ?=
test-lua: all
	$(BUSTED) $(BUSTED_FLAGS)

test: deps all test-c test-emulator test-lua

# The nginx specs (tag nginx) are left out here and under valgrind: nginx runs its own LuaJIT
# process, which neither the sanitizer preload nor valgrind reaches.
test-asan: deps all asan
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	LUA_CPATH="$(CURDIR)/build-asan/?.so;;" $(BUSTED) --cpath="$(CURDIR)/build-asan/?.so" --exclude-tags=soak,nginx

# The C tests must free everything; the Lua suite must lose nothing (busted
# closes the Lua state on exit, so every userdata's __gc has run by then;
# what libcurl and OpenSSL keep for the process is "still reachable").
VALGRIND := valgrind -q --leak-check=full --error-exitcode=1
valgrind: deps all $(C_TESTS)
	$(VALGRIND) --errors-for-leak-kinds=all build/test_sigv4 $(TESTDATA)
	$(VALGRIND) --errors-for-leak-kinds=all build/test_eventstream $(TESTDATA)
	$(VALGRIND) --errors-for-leak-kinds=all build/test_json
	$(VALGRIND) --errors-for-leak-kinds=all build/test_base64
	$(VALGRIND) --errors-for-leak-kinds=all build/test_http1_parse
	$(VALGRIND) --errors-for-leak-kinds=all build/test_resolve
	$(VALGRIND) --errors-for-leak-kinds=all build/test_tls
	$(VALGRIND) --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	  $(BUSTED) --exclude-tags=soak,nginx

demo: deps all
	$(LUA) examples/demo.lua

emulator:
	$(EMU_PYTHON) spec/support/emulator.py --port $${PORT:-4566}

# lua/bedrock/api/model.lua, the operations and shapes table, from the service model
SERVICE_MODEL ?= tools/model/bedrock-runtime/2023-09-30/service-2.json
model:
	$(PYTHON) tools/gen_model.py $(SERVICE_MODEL) > lua/bedrock/api/model.lua.tmp
	mv lua/bedrock/api/model.lua.tmp lua/bedrock/api/model.lua

build/bench_%: bench/bench_%.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Isrc -o $@ $< src/sigv4.c src/eventstream.c -lcrypto -lz -ldeflate

# The JS SDK peer (bench/js): its locked packages, installed once when npm is
# there (Node >= 20; the bench leaves the peer out without it).
bench-js:
	@if [ -d bench/js/node_modules/@aws-sdk/client-bedrock-runtime ]; then :; \
	elif command -v npm >/dev/null 2>&1; then (cd bench/js && npm ci --no-audit --no-fund) || \
	  echo "npm ci failed: the JS SDK is left out of make bench"; \
	else echo "npm not found: the JS SDK is left out of make bench"; fi

bench: deps all build/bench_sigv4 build/bench_decode bench-js
	build/bench_sigv4
	build/bench_decode
	$(LUA) bench/bench_decode.lua
	$(LUA) bench/bench_lua.lua

# Client instructions per keep-alive invoke (callgrind, this process only:
# the emulator is not counted): two runs of bench/invoke_loop.lua, 600 and
# 100 invokes, the difference over 500.
bench-instructions: deps all
	@for n in 100 600; do \
	  valgrind --tool=callgrind --callgrind-out-file=build/callgrind.invoke.$$n \
	    $(LUA) bench/invoke_loop.lua $$n 2>&1 | sed -n 's/.*Collected : //p' > build/callgrind.invoke.$$n.total; \
	done; \
	a=$$(cat build/callgrind.invoke.100.total); b=$$(cat build/callgrind.invoke.600.total); \
	echo "callgrind: $$(( (b - a) / 500 )) client instructions per keep-alive invoke_model"

# The floor under any libcurl client (bench/bench_libcurl_floor.c), both
# ways of driving libcurl, against an emulator of its own.
build/bench_libcurl_floor: bench/bench_libcurl_floor.c
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 $(WARN) -o $@ $< $(shell $(PKG_CONFIG) --libs libcurl)

bench-floor: deps all build/bench_libcurl_floor
	$(LUA) -e 'local e = require("spec.support.emulator").start(); e:scenario("m", {}); for _, m in ipairs{ "poll", "epoll" } do os.execute("build/bench_libcurl_floor " .. e.url .. "/model/m/invoke 10000 " .. m) end; e:stop()'

# The soak spec alone (it also runs in `make test`: about 15 s): 10,000
# invokes and 1,000 streams, RSS flat within 5 %.
soak: all
	$(BUSTED) --tags=soak

# libFuzzer targets (fuzz/): the event-stream decoder, the SigV4 signer, the
# JSON parser, the base64 decoder and the HTTP/1.x response parser, built with clang under ASan + UBSan. `make fuzz` seeds each corpus from
# $(TESTDATA) and runs each target FUZZ_SECONDS; a crash leaves its input in
# build/fuzz/artifacts/ and fails the target. The corpora stay in build/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := eventstream sigv4 json base64 http1_parse
FUZZ_FLAGS   := -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(WARN) -Isrc -Itest

FUZZ_DEB_PKGS := clang libclang-rt-14-dev python3

fuzz-deps:
	@missing=""; for p in $(FUZZ_DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run make fuzz-deps as root)"; exit 1; fi; \
	fi

build/fuzz/fuzz_%: fuzz/fuzz_%.c src/%.c src/%.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< src/$*.c -lcrypto -lz -ldeflate

fuzz-build: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)

fuzz-seeds:
	$(PYTHON) fuzz/seeds.py $(TESTDATA) build/fuzz/seeds

fuzz: deps fuzz-deps fuzz-build fuzz-seeds
	@mkdir -p build/fuzz/artifacts
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  if ASAN_OPTIONS=detect_leaks=1 build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	       -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$t- \
	       build/fuzz/corpus/$$t build/fuzz/seeds/$$t > build/fuzz/$$t.log 2>&1; then \
	    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)' build/fuzz/$$t.log; \
	    echo "fuzz_$$t: 1 passed, 0 failed"; \
	  else \
	    tail -n 60 build/fuzz/$$t.log; echo "fuzz_$$t: 0 passed, 1 failed"; exit 1; \
	  fi; \
	done

install: all
	install -d $(DESTDIR)$(LIBDIR)/bedrock
	install -m 0755 $(BUILD)/bedrock/codec.so $(DESTDIR)$(LIBDIR)/bedrock/codec.so
	install -m 0755 $(BUILD)/bedrock/core.so $(DESTDIR)$(LIBDIR)/bedrock/core.so
	install -m 0755 $(BUILD)/bedrock/curl.so $(DESTDIR)$(LIBDIR)/bedrock/curl.so
	cd lua && find bedrock -name '*.lua' | while read -r f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LUADIR)/$$f" || exit 1; done
	@# the bedrock command, and the emulator it starts (found beside bedrock/cli.lua)
	install -D -m 0644 spec/support/emulator.py $(DESTDIR)$(LUADIR)/bedrock/emulator.py
	install -D -m 0755 bin/bedrock $(DESTDIR)$(BINDIR)/bedrock

# A source rock of the release rockspec, packed as `luarocks pack` packs it from the forge (a clone
# of the tag, .git dropped), but from this checkout: a scratch bare clone of ROCK_REF (HEAD: what
# is committed, not the work tree) tagged v$(ROCK_VERSION), and git told to fetch the rockspec's URL
# from there. Then the rock is built into a scratch tree and every module is loaded from it alone.
ROCK_VERSION ?= 0.1.0
ROCK_REF     ?= HEAD
ROCKSPEC     := rockspec/lua-bedrock-$(ROCK_VERSION)-1.rockspec
ROCK_URL     := $(shell sed -n 's/^ *url = "git+\(.*\)",*$$/\1/p' $(ROCKSPEC) 2>/dev/null)
rock:
	rm -rf build/rock && mkdir -p build/rock
	git clone -q --bare --no-hardlinks . build/rock/repo.git
	git -C build/rock/repo.git tag -f v$(ROCK_VERSION) $$(git rev-parse $(ROCK_REF)) >/dev/null
	cd build/rock && GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=url.$(CURDIR)/build/rock/repo.git.insteadOf \
	  GIT_CONFIG_VALUE_0=$(ROCK_URL) luarocks --lua-version $(LUA_VERSION) pack $(CURDIR)/$(ROCKSPEC)
	luarocks --lua-version $(LUA_VERSION) --tree $(CURDIR)/build/rock/tree build --deps-mode=none \
	  build/rock/lua-bedrock-$(ROCK_VERSION)-1.src.rock
	cd / && $(LUA) $(CURDIR)/tools/check_rock.lua $(CURDIR)/$(ROCKSPEC) $(CURDIR)/build/rock/tree

# The API reference (LDoc, config.ld) into build/docs, then the check that no public name of
# the live objects, no config key and no error code is missing from it (tools/check_docs.lua).
docs: all
	@rm -rf build/docs
	@out=$$(ldoc .) || { echo "$$out"; exit 1; }; \
	if echo "$$out" | grep -v '^reading configuration\|^output written' | grep .; then \
	  echo "docs: ldoc warned"; exit 1; fi
	$(LUA) tools/check_docs.lua build/docs
	@echo "reference: build/docs/index.html"

clean:
	rm -rf build build-asan
