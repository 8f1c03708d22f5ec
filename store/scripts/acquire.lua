-- KEYS: line, process hash, record, events not yet begun, the paused rules; ARGV: event id, event time (ms; ''
-- for a timer: never late), record prefix, job prefix, the final statuses joined by ',', now
-- (ms), the record's time to live (s). Parks, or begins the run as `records.begin` does — one
-- round trip either way; a parked run has begun too, for timers (store/timers.py). Returns
-- {1 go / 0 park, late, and when going the record and the paused rules as HGETALL gives them}.
redis.call('ZREM', KEYS[4], ARGV[1])
local final = {}
for status in string.gmatch(ARGV[5], '[^,]+') do final[status] = true end
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head or head == ARGV[1] then break end
  local status, holds = unpack(redis.call('HMGET', ARGV[3] .. head, 'status', 'holds_line'))
  if holds ~= '1' and (final[status] or redis.call('EXISTS', ARGV[4] .. head) == 0) then
    redis.call('LPOP', KEYS[1])  -- its job is gone: it can hold nobody up (unless it holds)
  elseif redis.call('LPOS', KEYS[1], ARGV[1]) then
    redis.call('HSET', KEYS[3], 'parked', '1', 'status', 'waiting', 'waiting_for', head)
    return {0, 0, {}}
  else
    break  -- not in the line (a replay, or ordering was off when it came): no turn to wait for
  end
end
redis.call('HDEL', KEYS[3], 'parked', 'waiting_for')
local late = 0
if ARGV[2] ~= '' then
  local latest = tonumber(redis.call('HGET', KEYS[2], 'latest') or '0')
  if tonumber(ARGV[2]) < latest then
    late = 1
    redis.call('HSET', KEYS[3], 'late', '1')
  else
    redis.call('HSET', KEYS[2], 'latest', ARGV[2])
  end
end
redis.call('HSET', KEYS[3], 'status', 'processing')
redis.call('HSETNX', KEYS[3], 'started_at', ARGV[6])
redis.call('HINCRBY', KEYS[3], 'runs', 1)
redis.call('EXPIRE', KEYS[3], ARGV[7])
return {1, late, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[5])}
