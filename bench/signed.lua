-- wrk script: each thread cycles through its share of pre-signed Standard Webhooks requests.
-- The file holds four lines per request: webhook-id, webhook-timestamp, webhook-signature, body.
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  local lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  requests = {}
  local n = 0
  for i = 1, #lines, 4 do
    if n % nthreads == index then
      local headers = {
        ["Content-Type"] = "application/json",
        ["webhook-id"] = lines[i],
        ["webhook-timestamp"] = lines[i + 1],
        ["webhook-signature"] = lines[i + 2],
      }
      requests[#requests + 1] = wrk.format("POST", nil, headers, lines[i + 3])
    end
    n = n + 1
  end
  position = 0
end

function request()
  position = position % #requests + 1
  return requests[position]
end
