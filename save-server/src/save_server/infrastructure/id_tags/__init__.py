"""Id tags on SQLAlchemy: tables, the store, the router, the gateways' feed."""
