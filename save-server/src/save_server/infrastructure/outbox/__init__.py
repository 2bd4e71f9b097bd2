"""The transactional outbox: business events committed with their change, relayed after."""
