"""Runs calls. For now: the services that create, read, change and end call records."""
