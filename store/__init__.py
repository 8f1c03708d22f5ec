"""The router's state in Redis, in one room: every key (`store.keys`), every Lua script
(`store/scripts/`, run by `store.lua`), and every read and write of it — the queue, the event log
and its index, the dead-letter queue, the gate of each connection, ordering lines, heartbeats and
alert windows. The receiver, the worker, the console and the CLI go through it; it imports only
`common` and `contract`."""
