"""The three capability kinds shipped with urbanbrain; each registers by entry point like a plugin's would."""
