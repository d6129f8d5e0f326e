"""The vendor faces of Callgate. Each dialect is one folder; `shared` holds what they have in common."""
