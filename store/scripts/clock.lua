-- The time: ARGV[1] in ms, or, when it is 0, Redis's own clock (the prelude of admit and settle).
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
