# lua-bedrock. `make demo` and `make test` install what is missing (as root,
# with apt-get), build, and run. Variables are overridable, LuaRocks style.

LUA_VERSION ?= 5.4
LUA         ?= lua$(LUA_VERSION)
PKG_CONFIG  ?= pkg-config
PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib/lua/$(LUA_VERSION)
LUADIR      ?= $(PREFIX)/share/lua/$(LUA_VERSION)
TESTDATA    ?= $(firstword $(wildcard ../shared/testdata /work/shared/testdata))
PYTHON      ?= python3

PKGS        := lua$(LUA_VERSION) libcurl libcrypto zlib
WARN        := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes
CFLAGS      ?= -O2 -g
ALL_CFLAGS  := -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fPIC -fvisibility=hidden \
               $(WARN) $(CFLAGS) $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBS        := $(shell $(PKG_CONFIG) --libs libcurl libcrypto zlib 2>/dev/null)
LIBFLAG     ?= -shared

CORE_SRC    := src/sigv4.c src/eventstream.c src/transport.c src/lbedrock.c
CORE_HDR    := $(wildcard src/*.h)

# Debian packages the build, the suite, the demo and the benchmarks need.
DEB_PKGS    := gcc make pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev libssl-dev \
               zlib1g-dev lua-cjson lua-busted luarocks curl python3 valgrind

export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;./?.lua;;
export LUA_CPATH := $(CURDIR)/build/?.so;;

.PHONY: all deps test test-c test-lua test-emulator demo bench install clean asan test-asan valgrind emulator model

all: build/bedrock/core.so

build/bedrock/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -o $@ $(CORE_SRC) $(LIBS)

# Sanitizer build of the module: the suite loads it with the runtime preloaded.
build-asan/bedrock/core.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	  -fno-sanitize-recover=undefined $(LIBFLAG) -o $@ $(CORE_SRC) $(LIBS)

asan: build-asan/bedrock/core.so

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

test-emulator:
	$(PYTHON) spec/support/test_emulator.py

test-lua: all
	$(LUA) /usr/bin/busted

test: deps all test-c test-emulator test-lua

test-asan: deps build-asan/bedrock/core.so
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	LUA_CPATH="$(CURDIR)/build-asan/?.so;;" $(LUA) /usr/bin/busted

# The C tests must free everything; the Lua suite must lose nothing (busted
# closes the Lua state on exit, so every userdata's __gc has run by then;
# what libcurl and OpenSSL keep for the process is "still reachable").
VALGRIND := valgrind -q --leak-check=full --error-exitcode=1
valgrind: deps all build/test_sigv4 build/test_eventstream
	$(VALGRIND) --errors-for-leak-kinds=all build/test_sigv4 $(TESTDATA)
	$(VALGRIND) --errors-for-leak-kinds=all build/test_eventstream $(TESTDATA)
	$(VALGRIND) --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	  $(LUA) /usr/bin/busted

demo: deps all
	$(LUA) examples/demo.lua

emulator:
	$(PYTHON) spec/support/emulator.py --port $${PORT:-4566}

# lua/bedrock/model.lua, the operations and shapes table, from the service model
SERVICE_MODEL ?= $(firstword $(wildcard ../shared/models/bedrock-runtime/2023-09-30/service-2.json \
                   /work/shared/models/bedrock-runtime/2023-09-30/service-2.json))
model:
	$(PYTHON) tools/gen_model.py $(SERVICE_MODEL) > lua/bedrock/model.lua.tmp
	mv lua/bedrock/model.lua.tmp lua/bedrock/model.lua

build/bench_%: bench/bench_%.c $(CORE_SRC) $(CORE_HDR)
	@mkdir -p build
	$(CC) -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -Isrc -o $@ $< src/sigv4.c src/eventstream.c -lcrypto -lz

bench: deps all build/bench_sigv4 build/bench_decode
	build/bench_sigv4
	build/bench_decode
	$(LUA) bench/bench_lua.lua

install: all
	install -d $(DESTDIR)$(LIBDIR)/bedrock $(DESTDIR)$(LUADIR)/bedrock
	install -m 0755 build/bedrock/core.so $(DESTDIR)$(LIBDIR)/bedrock/core.so
	install -m 0644 lua/bedrock/*.lua $(DESTDIR)$(LUADIR)/bedrock/
	install -d $(DESTDIR)$(LUADIR)/bedrock/schemas
	install -m 0644 lua/bedrock/schemas/*.lua $(DESTDIR)$(LUADIR)/bedrock/schemas/
	install -d $(DESTDIR)$(LUADIR)/bedrock/providers
	install -m 0644 lua/bedrock/providers/*.lua $(DESTDIR)$(LUADIR)/bedrock/providers/

clean:
	rm -rf build build-asan
