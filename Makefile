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
TESTDATA    ?= test/data
PYTHON      ?= python3
# the emulator's python: Debian's has python3-h2 (HTTP/2); with another, emulator.py falls back
# to /usr/lib/python3/dist-packages for h2 (see its load_h2), as the self-tests do
EMU_PYTHON  ?= $(firstword $(wildcard /usr/bin/python3) python3)

PKGS        := $(LUA_PC) libcurl libcrypto zlib
WARN        := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS      ?= -O2 -g
ALL_CFLAGS  := -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -fvisibility=hidden \
               $(WARN) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS        := $(shell $(PKG_CONFIG) --libs libcurl libcrypto zlib 2>/dev/null)
CODEC_LIBS  := $(shell $(PKG_CONFIG) --libs libcrypto zlib 2>/dev/null)
LIBFLAG     ?= -shared

# bedrock.codec: the sans-I/O pieces, no libcurl; bedrock.core: the engine, on top of it
CODEC_SRC   := src/sigv4.c src/eventstream.c src/lutil.c src/lcodec.c
CORE_SRC    := src/eventstream.c src/transport.c src/spawn.c src/lutil.c src/lbedrock.c
CORE_HDR    := $(wildcard src/*.h)
MODULES     := $(BUILD)/bedrock/codec.so $(BUILD)/bedrock/core.so

# Debian packages the build, the suite, the demo and the benchmarks need.
# Every Lua the suite runs on: luajit2 (not Debian's luajit, which nginx's Lua module refuses).
DEB_PKGS    := gcc make pkg-config lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev lua5.1 liblua5.1-0-dev \
               luajit2 libluajit2-5.1-dev libcurl4-openssl-dev libssl-dev \
               zlib1g-dev lua-cjson lua-busted luarocks curl python3 python3-h2 valgrind openssl procps ca-certificates \
               nginx libnginx-mod-http-lua libnginx-mod-http-ndk lua-resty-core

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;./?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps test test-c test-lua test-emulator demo bench install clean asan test-asan valgrind emulator \
        model fuzz fuzz-deps fuzz-build fuzz-seeds soak

all: $(MODULES)

$(BUILD)/bedrock/codec.so: $(CODEC_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CODEC_SRC) $(CODEC_LIBS)

$(BUILD)/bedrock/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CORE_SRC) $(LIBS)

# Sanitizer build of the modules: the suite loads them with the runtime preloaded.
SAN_FLAGS   := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
build-asan/bedrock/codec.so: $(CODEC_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LIBFLAG) -o $@ $(CODEC_SRC) $(CODEC_LIBS)

build-asan/bedrock/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) $(LIBFLAG) -o $@ $(CORE_SRC) $(LIBS)

asan: build-asan/bedrock/codec.so build-asan/bedrock/core.so

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run make deps as root)"; exit 1; fi; \
	fi
	@# the credential specs run moto's STS server and compare with boto3 (both on the image)
	@$(PYTHON) -c 'import moto.server, boto3' 2>/dev/null || \
	  { echo "python3 needs moto and boto3 (moto.server, boto3) for the credential specs"; exit 1; }

build/test_%: test/test_%.c src/%.c src/%.h
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -g $(WARN) -Isrc -o $@ $< src/$*.c -lcrypto -lz

test-c: build/test_sigv4 build/test_eventstream
	build/test_sigv4 $(TESTDATA)
	build/test_eventstream $(TESTDATA)

# $(PYTHON): botocore there signs and decodes independently of the emulator
test-emulator:
	$(PYTHON) spec/support/test_emulator.py

# BUSTED_FLAGS: e.g. --exclude-tags=soak (CI runs the soak spec on 5.4 only)
BUSTED_FLAGS ?=
test-lua: all
	$(LUA) /usr/bin/busted $(BUSTED_FLAGS)

test: deps all test-c test-emulator test-lua

test-asan: deps asan
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	LUA_CPATH="$(CURDIR)/build-asan/?.so;;" $(LUA) /usr/bin/busted --exclude-tags=soak

# The C tests must free everything; the Lua suite must lose nothing (busted
# closes the Lua state on exit, so every userdata's __gc has run by then;
# what libcurl and OpenSSL keep for the process is "still reachable").
VALGRIND := valgrind -q --leak-check=full --error-exitcode=1
valgrind: deps all build/test_sigv4 build/test_eventstream
	$(VALGRIND) --errors-for-leak-kinds=all build/test_sigv4 $(TESTDATA)
	$(VALGRIND) --errors-for-leak-kinds=all build/test_eventstream $(TESTDATA)
	$(VALGRIND) --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	  $(LUA) /usr/bin/busted --exclude-tags=soak

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
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Isrc -o $@ $< src/sigv4.c src/eventstream.c -lcrypto -lz

bench: deps all build/bench_sigv4 build/bench_decode
	build/bench_sigv4
	build/bench_decode
	$(LUA) bench/bench_lua.lua

# The soak spec alone (it also runs in `make test`: about 15 s): 10,000
# invokes and 1,000 streams, RSS flat within 5 %.
soak: all
	$(LUA) /usr/bin/busted --tags=soak

# libFuzzer targets (fuzz/): the event-stream decoder and the SigV4 signer,
# built with clang under ASan + UBSan. `make fuzz` seeds each corpus from
# $(TESTDATA) and runs each target FUZZ_SECONDS; a crash leaves its input in
# build/fuzz/artifacts/ and fails the target. The corpora stay in build/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := eventstream sigv4
FUZZ_FLAGS   := -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(WARN) -Isrc

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
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< src/$*.c -lcrypto -lz

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
	cd lua && find bedrock -name '*.lua' | while read -r f; do \
	  install -D -m 0644 "$$f" "$(DESTDIR)$(LUADIR)/$$f" || exit 1; done

clean:
	rm -rf build build-asan
