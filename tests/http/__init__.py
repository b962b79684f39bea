"""Tests against the real app: a live server on a free port, or Starlette's TestClient."""
