"""`kuflow-router run --demo`: the example rules acting on a local stand-in for every API.

A newcomer's first run has no KuFlow, UltraCart, Alteryx or NERM credentials, and maybe no
network. In demo mode every connection of `rules.yaml` is pointed at `demo/api.py`, a stand-in
served by the router itself that answers as each API would and logs every request it receives,
so an event sent with `kuflow-router send` visibly becomes requests within seconds. Nothing here
is used outside demo mode.
"""
