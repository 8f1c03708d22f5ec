-- KEYS: ready, queue; ARGV: now (ms), in-progress prefix, batch. A job still being parked by arq
-- (its in-progress mark is there) stays ready for the next round: moving it now would be undone
-- by arq's own re-scheduling.
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local moved = 0
for _, id in ipairs(ids) do
  redis.call('LREM', KEYS[1], 1, id)
  if redis.call('EXISTS', ARGV[2] .. id) == 1 then
    redis.call('RPUSH', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[2], 'XX', ARGV[1], id)
    moved = moved + 1
  end
end
return moved
