"""The bank's wire shapes: rendering answers and callback bodies, and the OpenAPI document."""
