"""The notebooks, executed as a researcher runs them."""
