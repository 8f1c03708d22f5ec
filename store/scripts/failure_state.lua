-- An operator changes a failure's state (store/failures.py): acknowledge (open → acknowledged),
-- resolve (open or acknowledged → resolved), reopen (acknowledged or resolved → open; no alert).
-- KEYS: 1 the failure. ARGV: 1 the new state, 2 by whom, 3 now (ms), 4 a note.
-- Returns the state it was in ('' when there is no such failure); unchanged when the move is
-- not allowed (the caller says why).
local was = redis.call('HGET', KEYS[1], 'state')
if not was then return '' end
local to = ARGV[1]
if to == 'acknowledged' and was == 'open' then
  redis.call('HSET', KEYS[1], 'state', to, 'acked_by', ARGV[2], 'acked_at', ARGV[3], 'note', ARGV[4])
elseif to == 'resolved' and was ~= 'resolved' then
  redis.call('HSET', KEYS[1], 'state', to, 'resolved_by', ARGV[2], 'resolved_at', ARGV[3])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'note', ARGV[4]) end
elseif to == 'open' and was ~= 'open' then
  redis.call('HSET', KEYS[1], 'state', to, 'opened_at', ARGV[3])
  redis.call('HDEL', KEYS[1], 'acked_by', 'acked_at', 'note')
end
return was
