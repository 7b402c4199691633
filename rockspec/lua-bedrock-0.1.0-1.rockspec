rockspec_format = "3.0"
package = "lua-bedrock"
version = "0.1.0-1"
source = {
  url = "git+https://example.invalid/lua-bedrock.git",
  tag = "v0.1.0",
}
description = {
  summary = "AWS Bedrock Runtime client: SigV4, event streams and HTTP in C, a small Lua API",
  detailed = [[
bedrock.client(config) and bedrock.async_client(config) with invoke_model and
invoke_model_with_response_stream (a for-loop iterator of decoded events), the
AWS credential chain, retries, and the sans-I/O pieces bedrock.sigv4 and
bedrock.eventstream.]],
  license = "Apache-2.0",
}
-- Lua 5.1, LuaJIT 2.1, 5.3 and 5.4 from one source (src/compat.h)
dependencies = { "lua >= 5.1, < 5.5", "lua-cjson" }
external_dependencies = {
  -- Debian keeps curl.h under the multiarch include dir, which the compiler
  -- searches by itself but LuaRocks 3.8 does not: check the library only.
  CURL = { library = "curl" },
  OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
  LIBDEFLATE = { header = "libdeflate.h", library = "deflate" },
}
build = {
  type = "builtin",
  modules = {
    -- the sans-I/O pieces, no libcurl (bedrock.sigv4, bedrock.eventstream)
    ["bedrock.codec"] = {
      sources = { "src/sigv4.c", "src/eventstream.c", "src/json.c", "src/base64.c", "src/ljson.c", "src/lutil.c",
                  "src/lcodec.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      libraries = { "crypto", "deflate" },
      incdirs = { "$(OPENSSL_INCDIR)", "$(LIBDEFLATE_INCDIR)" },
      libdirs = { "$(OPENSSL_LIBDIR)", "$(LIBDEFLATE_LIBDIR)" },
    },
    -- the engine and our own HTTP/1.1 client (OpenSSL), built on bedrock.codec; no libcurl
    ["bedrock.core"] = {
      sources = { "src/eventstream.c", "src/json.c", "src/base64.c", "src/ljson.c", "src/lutil.c",
                  "src/xfer.c", "src/engine.c", "src/http1.c", "src/http1_parse.c", "src/tls.c",
                  "src/resolve.c", "src/spawn.c", "src/sigint.c", "src/lbedrock.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      libraries = { "ssl", "crypto", "deflate", "pthread" },
      incdirs = { "$(OPENSSL_INCDIR)", "$(LIBDEFLATE_INCDIR)" },
      libdirs = { "$(OPENSSL_LIBDIR)", "$(LIBDEFLATE_LIBDIR)" },
    },
    -- libcurl, the engine's backend for duplex sessions and proxies: loaded by bedrock.core
    -- only when a request needs it
    ["bedrock.curl"] = {
      sources = { "src/eventstream.c", "src/xfer.c", "src/curl_backend.c", "src/lcurl.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      libraries = { "curl", "deflate" },
      incdirs = { "$(CURL_INCDIR)", "$(LIBDEFLATE_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(LIBDEFLATE_LIBDIR)" },
    },
    ["bedrock"] = "lua/bedrock/init.lua",
    ["bedrock.compat"] = "lua/bedrock/compat.lua",
    ["bedrock.sigv4"] = "lua/bedrock/sigv4.lua",
    ["bedrock.eventstream"] = "lua/bedrock/eventstream.lua",
    ["bedrock.api.client"] = "lua/bedrock/api/client.lua",
    ["bedrock.api.duplex"] = "lua/bedrock/api/duplex.lua",
    ["bedrock.config"] = "lua/bedrock/config/init.lua",
    ["bedrock.auth.cache"] = "lua/bedrock/auth/cache.lua",
    ["bedrock.auth.credentials"] = "lua/bedrock/auth/credentials.lua",
    ["bedrock.auth.chain"] = "lua/bedrock/auth/chain.lua",
    ["bedrock.config.endpoint"] = "lua/bedrock/config/endpoint.lua",
    ["bedrock.errors"] = "lua/bedrock/errors.lua",
    ["bedrock.api.model"] = "lua/bedrock/api/model.lua",
    ["bedrock.api.operations"] = "lua/bedrock/api/operations.lua",
    ["bedrock.transport.http"] = "lua/bedrock/transport/http.lua",
    ["bedrock.config.profile"] = "lua/bedrock/config/profile.lua",
    ["bedrock.auth.providers.assume_role"] = "lua/bedrock/auth/providers/assume_role.lua",
    ["bedrock.auth.providers.container"] = "lua/bedrock/auth/providers/container.lua",
    ["bedrock.auth.providers.imds"] = "lua/bedrock/auth/providers/imds.lua",
    ["bedrock.auth.providers.process"] = "lua/bedrock/auth/providers/process.lua",
    ["bedrock.auth.providers.sso"] = "lua/bedrock/auth/providers/sso.lua",
    ["bedrock.auth.providers.web_identity"] = "lua/bedrock/auth/providers/web_identity.lua",
    ["bedrock.policy.retry"] = "lua/bedrock/policy/retry.lua",
    ["bedrock.transport.scheduler"] = "lua/bedrock/transport/scheduler.lua",
    ["bedrock.api.reply"] = "lua/bedrock/api/reply.lua",
    ["bedrock.transport"] = "lua/bedrock/transport/init.lua",
    ["bedrock.transport.engine"] = "lua/bedrock/transport/engine.lua",
    ["bedrock.transport.ngx"] = "lua/bedrock/transport/ngx.lua",
    ["bedrock.api.shapes"] = "lua/bedrock/api/shapes.lua",
    ["bedrock.api.stream"] = "lua/bedrock/api/stream.lua",
    ["bedrock.policy.validate"] = "lua/bedrock/policy/validate.lua",
    ["bedrock.conversation"] = "lua/bedrock/conversation.lua",
    ["bedrock.tools.loop"] = "lua/bedrock/tools/loop.lua",
    ["bedrock.tools.schema"] = "lua/bedrock/tools/schema.lua",
    ["bedrock.mcp"] = "lua/bedrock/mcp/init.lua",
    ["bedrock.mcp.stdio"] = "lua/bedrock/mcp/stdio.lua",
    ["bedrock.mcp.http"] = "lua/bedrock/mcp/http.lua",
    ["bedrock.policy.schemas"] = "lua/bedrock/policy/schemas/init.lua",
    ["bedrock.policy.schemas.anthropic"] = "lua/bedrock/policy/schemas/anthropic.lua",
    ["bedrock.policy.schemas.nova"] = "lua/bedrock/policy/schemas/nova.lua",
    ["bedrock.policy.schemas.titan"] = "lua/bedrock/policy/schemas/titan.lua",
    ["bedrock.policy.schemas.llama"] = "lua/bedrock/policy/schemas/llama.lua",
    ["bedrock.policy.schemas.mistral"] = "lua/bedrock/policy/schemas/mistral.lua",
    ["bedrock.policy.schemas.cohere"] = "lua/bedrock/policy/schemas/cohere.lua",
    ["bedrock.policy.schemas.ai21"] = "lua/bedrock/policy/schemas/ai21.lua",
    ["bedrock.policy.usage"] = "lua/bedrock/policy/usage.lua",
    ["bedrock.auth.sts"] = "lua/bedrock/auth/sts.lua",
    ["bedrock.cli"] = "lua/bedrock/cli.lua",
  },
  install = {
    -- the bedrock command (LuaRocks wraps it with the tree's paths), and the
    -- emulator it starts: bedrock/emulator.py beside bedrock/cli.lua
    bin = { bedrock = "bin/bedrock" },
    lua = { ["bedrock.emulator"] = "spec/support/emulator.py" },
  },
}
test = { type = "busted" }
