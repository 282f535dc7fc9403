"""The HTTP API (FastAPI, under /api/v1): invitations, responses and cases for other systems. Kept light: FastAPI is
imported by `handlers.api.app`, and only when API keys are configured."""

PREFIX = "/api/v1"  # the version: a change that breaks a caller gets a new one
