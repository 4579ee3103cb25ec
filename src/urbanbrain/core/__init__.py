"""Foundation shared by every layer: settings, errors, ids, clock, naming, secrets, the plugin registry.

Nothing here imports any other urbanbrain package.
"""
