"""Feed kinds (MQTT, NATS JetStream, HTTP push) behind one protocol; see `base`."""
