-- wrk script for bench/scale.py: each request a new PROCESS.CREATED event (a random id, so the
-- receiver's dedup never refuses one), token auth in the URL. args: the event timestamp.
local timestamp

function init(args)
  timestamp = args[1]
  math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1000000) % 1000000)
end

local function hex(digits)
  local out = {}
  for i = 1, digits do out[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(out)
end

local function uuid()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. string.format("%x", math.random(8, 11))
    .. hex(3) .. "-" .. hex(12)
end

function request()
  local body = '{"id":"' .. uuid() .. '","version":"1","type":"PROCESS.CREATED","timestamp":"'
    .. timestamp .. '","data":{"processId":"' .. uuid() .. '","processState":"RUNNING"}}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
