"""Demo data, written through the real services as a user would. The domain never imports it."""
