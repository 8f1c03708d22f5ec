-- Lift an operator's pause (on the first page: the pause's fields of a hash — a connection's
-- hold fields, or a rule's entry of the paused rules) and bring a page of the jobs it held to
-- the front of arq's queue, with a wake-up token each (at most the token cap). A job no longer
-- in the queue (done, replayed elsewhere) is just forgotten.
-- KEYS: 1 the hash, 2 the jobs held, 3 arq's queue, 4 the wake list.
-- ARGV: 1 now (ms), 2 the page, 3 '1': the first page (lift the pause), 4 the token cap - 1,
-- then the pause's fields. Returns how many of the page were brought back or forgotten.
if ARGV[3] == '1' then redis.call('HDEL', KEYS[1], unpack(ARGV, 5)) end
local page = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
for _, job in ipairs(page) do
  if redis.call('ZSCORE', KEYS[3], job) then
    redis.call('ZADD', KEYS[3], ARGV[1], job)
    redis.call('LPUSH', KEYS[4], '1')
  end
  redis.call('ZREM', KEYS[2], job)
end
redis.call('LTRIM', KEYS[4], 0, ARGV[4])
return #page
