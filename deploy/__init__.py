"""Deployment: the nginx configuration shared by docker-compose.yml and `make cluster` (deploy/cluster.py)."""
