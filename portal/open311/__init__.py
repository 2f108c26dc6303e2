"""Open311 GeoReport v2: the portal's cases as service requests for other cities' 311 tools."""
