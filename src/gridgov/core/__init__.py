"""Settings, storage, migrations, clock, calendar, errors: what every domain stands on."""
