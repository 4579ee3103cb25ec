"""The capability center: a catalog of capabilities departments release to the whole city, the kinds
that implement them (data API, built-in, HTTP proxy), and the gateway that lets applications call
them with keys, grants and quotas, metering who reuses what."""
