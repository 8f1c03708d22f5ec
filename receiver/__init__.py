"""Everything between the socket and the queue: authenticate, validate, deduplicate, enqueue.

The receiver owns the two contracts the rest of the router builds on: the event models
(`receiver.events`) and the queue contract (`receiver.queue`, `receiver.keys`). `handlers`
imports them; the receiver never imports `handlers`.
"""
