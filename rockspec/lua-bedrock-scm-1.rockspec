rockspec_format = "3.0"
package = "lua-bedrock"
version = "scm-1"
source = { url = "git+https://example.invalid/lua-bedrock.git" }
description = {
  summary = "AWS Bedrock Runtime client: SigV4, event streams and libcurl in C, a small Lua API",
  detailed = [[
bedrock.client(config) and bedrock.async_client(config) with invoke_model and
invoke_model_with_response_stream (a for-loop iterator of decoded events), the
AWS credential chain, retries, and the sans-I/O pieces bedrock.sigv4 and
bedrock.eventstream.]],
  license = "Apache-2.0",
}
dependencies = { "lua >= 5.4", "lua-cjson" }
external_dependencies = {
  -- Debian keeps curl.h under the multiarch include dir, which the compiler
  -- searches by itself but LuaRocks 3.8 does not: check the library only.
  CURL = { library = "curl" },
  OPENSSL = { header = "openssl/evp.h", library = "crypto" },
  ZLIB = { header = "zlib.h", library = "z" },
}
build = {
  type = "builtin",
  modules = {
    ["bedrock.core"] = {
      sources = { "src/sigv4.c", "src/eventstream.c", "src/transport.c", "src/spawn.c", "src/lbedrock.c" },
      defines = { "_POSIX_C_SOURCE=200809L", "_DEFAULT_SOURCE" },
      libraries = { "curl", "crypto", "z" },
      incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)", "$(ZLIB_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)", "$(ZLIB_LIBDIR)" },
    },
    ["bedrock"] = "lua/bedrock/init.lua",
    ["bedrock.client"] = "lua/bedrock/client.lua",
    ["bedrock.config"] = "lua/bedrock/config.lua",
    ["bedrock.credcache"] = "lua/bedrock/credcache.lua",
    ["bedrock.creds"] = "lua/bedrock/creds.lua",
    ["bedrock.credentials"] = "lua/bedrock/credentials.lua",
    ["bedrock.endpoint"] = "lua/bedrock/endpoint.lua",
    ["bedrock.errors"] = "lua/bedrock/errors.lua",
    ["bedrock.model"] = "lua/bedrock/model.lua",
    ["bedrock.operations"] = "lua/bedrock/operations.lua",
    ["bedrock.http"] = "lua/bedrock/http.lua",
    ["bedrock.profile"] = "lua/bedrock/profile.lua",
    ["bedrock.providers.assume_role"] = "lua/bedrock/providers/assume_role.lua",
    ["bedrock.providers.container"] = "lua/bedrock/providers/container.lua",
    ["bedrock.providers.imds"] = "lua/bedrock/providers/imds.lua",
    ["bedrock.providers.process"] = "lua/bedrock/providers/process.lua",
    ["bedrock.providers.sso"] = "lua/bedrock/providers/sso.lua",
    ["bedrock.providers.web_identity"] = "lua/bedrock/providers/web_identity.lua",
    ["bedrock.retry"] = "lua/bedrock/retry.lua",
    ["bedrock.scheduler"] = "lua/bedrock/scheduler.lua",
    ["bedrock.shapes"] = "lua/bedrock/shapes.lua",
    ["bedrock.stream"] = "lua/bedrock/stream.lua",
    ["bedrock.validate"] = "lua/bedrock/validate.lua",
    ["bedrock.conversation"] = "lua/bedrock/conversation.lua",
    ["bedrock.schemas"] = "lua/bedrock/schemas/init.lua",
    ["bedrock.schemas.anthropic"] = "lua/bedrock/schemas/anthropic.lua",
    ["bedrock.schemas.nova"] = "lua/bedrock/schemas/nova.lua",
    ["bedrock.schemas.titan"] = "lua/bedrock/schemas/titan.lua",
    ["bedrock.schemas.llama"] = "lua/bedrock/schemas/llama.lua",
    ["bedrock.schemas.mistral"] = "lua/bedrock/schemas/mistral.lua",
    ["bedrock.schemas.cohere"] = "lua/bedrock/schemas/cohere.lua",
    ["bedrock.schemas.ai21"] = "lua/bedrock/schemas/ai21.lua",
    ["bedrock.usage"] = "lua/bedrock/usage.lua",
    ["bedrock.sha1"] = "lua/bedrock/sha1.lua",
    ["bedrock.sts"] = "lua/bedrock/sts.lua",
  },
}
test = { type = "busted" }
