"""notiflow's Great Expectations layer: suites as code and the gates that run them."""
