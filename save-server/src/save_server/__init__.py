"""The charging-network business service: stations, connectors, charges, REST API, reports."""
