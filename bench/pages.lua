-- wrk script: each connection asks every path of PIPEWISE_PATHS (one per
-- line) in turn, so the load is the pages' mix, not one route. wrk itself
-- reports answers that are not 2xx/3xx ("Non-2xx or 3xx responses").
local paths = {}
for p in string.gmatch(os.getenv("PIPEWISE_PATHS") or "/api/me", "[^\n]+") do
  paths[#paths + 1] = p
end
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
