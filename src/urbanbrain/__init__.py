"""urbanbrain: an open-source city brain.

Connect every department's information systems, aggregate their data in one governed Iceberg
lakehouse, and release reusable capabilities to the whole city.
"""

__version__ = "0.1.0"
