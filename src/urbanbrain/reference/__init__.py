"""Reference data and rules every layer may use: identifier check characters, administrative divisions."""
