--- Building blocks of the model-family schemas (lua/bedrock/schemas/<family>.lua)
-- and the table that maps model ids to families.
--
-- A schema is a tree of plain tables, each with a kind `t`:
--   { t = "string", enum = { [v] = true }, enum_list = "a, b", nonempty = true }
--   { t = "number" | "integer", min = x, max = y, gt = x }   (gt: strictly greater)
--   { t = "boolean" } · { t = "any" }
--   { t = "array", items = node, min = n, max = n }
--   { t = "object", fields = { name = node }, required = { "name", ... }, open = true|nil,
--     one_of = { "a", "b" } (exactly one present), any_of = { "a", "b" } (at least one),
--     rule = function(value) -> nil | field (or a list of keys down to it), message }
--   { t = "map", values = node }                    an object with arbitrary keys
--   { t = "union", string = node, array = node, object = node, ... }  chosen by JSON type
--   { t = "tagged", key = "type", variants = { tag = object node } }  chosen by a field
-- The constructors below fill in what the checker precomputes (sorted field
-- lists for messages, enum sets), so a check walks the body once and builds
-- no strings unless it fails.
local S = {}

function S.str(opts)
  local node = { t = "string" }
  if opts and opts.enum then
    node.enum = {}
    for _, v in ipairs(opts.enum) do node.enum[v] = true end
    node.enum_list = table.concat(opts.enum, ", ")
  end
  if opts and opts.nonempty then node.nonempty = true end
  return node
end

--- A string that must not be empty.
function S.text() return S.str{ nonempty = true } end

function S.enum(...) return S.str{ enum = { ... } } end

function S.num(min, max) return { t = "number", min = min, max = max } end
function S.int(min, max) return { t = "integer", min = min, max = max } end
function S.bool() return { t = "boolean" } end
function S.any() return { t = "any" } end

function S.arr(items, min, max) return { t = "array", items = items, min = min, max = max } end

--- obj(fields, required, extra): extra may hold open, one_of, any_of, rule.
function S.obj(fields, required, extra)
  local node = { t = "object", fields = fields, required = required or {} }
  local names = {}
  for k in pairs(fields) do names[#names + 1] = k end
  table.sort(names)
  node.order = names
  node.known = table.concat(names, ", ")
  for k, v in pairs(extra or {}) do node[k] = v end
  return node
end

function S.map(values) return { t = "map", values = values or S.any() } end

--- union{ string = node, array = node, object = node, number = node, boolean = node }
function S.union(by_type, desc)
  local node = { t = "union", desc = desc }
  for k, v in pairs(by_type) do node[k] = v end
  return node
end

function S.tagged(key, variants)
  local tags = {}
  for k in pairs(variants) do tags[#tags + 1] = k end
  table.sort(tags)
  return { t = "tagged", key = key, variants = variants, tag_list = table.concat(tags, ", ") }
end

--- Which schema checks which model: the first pattern that matches the
-- model id (after its ARN and its cross-region prefix are stripped) names a
-- module in lua/bedrock/schemas/ and, optionally, one of its schemas and a
-- variant (a table of the module's `variants`: the same schemas with one
-- model's limits); false means "known, not checked". An id no pattern
-- matches is not checked.
S.families = {
  { "^anthropic%.claude%-sonnet%-4%-5", "anthropic", nil, "one_sampler" },
  { "^anthropic%.claude%-haiku%-4%-5", "anthropic", nil, "one_sampler" },
  { "^anthropic%.claude", "anthropic" },
  { "^amazon%.nova%-canvas", false },
  { "^amazon%.nova%-reel", false },
  { "^amazon%.nova%-sonic", false },
  { "^amazon%.nova", "nova" },
  { "^amazon%.titan%-embed%-image", "titan", "embed_image" },
  { "^amazon%.titan%-embed", "titan", "embed_text" },
  { "^amazon%.titan%-text%-lite", "titan", "text_lite" },
  { "^amazon%.titan%-text%-express", "titan", "text_express" },
  { "^amazon%.titan%-text%-premier", "titan", "text_premier" },
  { "^amazon%.titan%-text", "titan", "text" },
  { "^amazon%.titan%-tg1", "titan", "text" },
  { "^meta%.llama", "llama" },
  { "^mistral%.mistral%-7b", "mistral", nil, "max8192" },
  { "^mistral%.mixtral%-8x7b", "mistral", nil, "max4096" },
  { "^mistral%.mistral%-large%-2402", "mistral", nil, "max8192" },
  { "^mistral%.mistral%-small", "mistral", nil, "max8192" },
  { "^mistral%.", "mistral" },
  { "^cohere%.command%-r", "cohere", "command_r" },
  { "^cohere%.command", "cohere", "command" },
  { "^cohere%.embed", "cohere", "embed" },
  { "^ai21%.jamba", "ai21" },
}

-- Cross-region inference profiles put a geography in front of the model id.
S.region_prefixes = { "us", "eu", "apac", "ap", "ca", "jp", "au", "us-gov", "global" }

return S
