"""What an operator sees of a running service: Prometheus metrics (`metrics`, the families every layer counts with;
`scrape`, the /metrics answer) and structured logs with a request id (`logs`)."""
