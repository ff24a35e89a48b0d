"""The worker process (the Procfile's `worker:`): hands callers and callback requests to people as they free up."""
