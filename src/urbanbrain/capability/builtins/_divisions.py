"""Moved to `urbanbrain.reference.divisions` (governance and One ID use it too); kept as an alias."""

from urbanbrain.reference.divisions import LATER_CODES, Division, adcodes_file, divisions, region_names

__all__ = ["LATER_CODES", "Division", "adcodes_file", "divisions", "region_names"]
