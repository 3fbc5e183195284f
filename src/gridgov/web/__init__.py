"""The FastAPI application, HTML pages and static assets."""
