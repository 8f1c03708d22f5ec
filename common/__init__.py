"""What every process of the router shares, whichever role it runs: settings read from the
environment, logging, and the masking of secrets. Every layer may import it; it imports none."""
