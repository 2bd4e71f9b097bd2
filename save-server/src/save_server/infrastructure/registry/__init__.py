"""Sites and the station registry: storage, registry events, HTTP."""
