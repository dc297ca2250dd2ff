-- Facts about the database itself (for example that it holds the demo district).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
