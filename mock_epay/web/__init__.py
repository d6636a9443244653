"""The aiohttp layer: app keys, middleware, request readers, pages and the route packages."""
