"""What is remembered, in Redis: the only package that imports redis (the client is always passed in)."""
