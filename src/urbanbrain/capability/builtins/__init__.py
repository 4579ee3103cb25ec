"""Built-in capabilities shipped with urbanbrain, one module each, registered by entry point.

Every module exposes `BuiltinSpec` objects (see `urbanbrain.capability.base`); the catalog publishes
them like any other capability, so they are owned, granted and metered the same way.
"""
