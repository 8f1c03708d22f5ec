"""Real HTTP servers on 127.0.0.1 that implement the outside APIs as their documents describe."""
