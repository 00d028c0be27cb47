"""Ticket analyzers: the shared types (`base`) and the local, offline learner (`local`)."""
