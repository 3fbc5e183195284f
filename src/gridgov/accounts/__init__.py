"""Users, roles and permissions, area scopes, login, sessions and API tokens."""
