"""Remote commands: parameters, the command bus adapters, history storage, the router."""
