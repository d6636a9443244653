"""postLink delivery: the dispatcher, the delivery log, target checks and the HTTP client."""
