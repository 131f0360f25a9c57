#pragma once

#include <span>
#include <string_view>

#include "connection.hpp"

namespace storage::postgres {

/// The PostgreSQL schema's history, version for version the same meaning as
/// storage/sqlite/migrations.cpp: migration i (0-based) takes the schema from version i to
/// i + 1. Applied versions are rows of schema_migrations. Append-only: never edit or reorder a
/// shipped migration; see storage/migrations/README.md.
std::span<const std::string_view> migrations();

/// The highest applied version; 0 when schema_migrations does not exist yet.
int schema_version(Connection& connection);

/// Applies every migration past the database's version, each in its own transaction together
/// with its schema_migrations row, under pg_advisory_xact_lock: two nodes starting at once
/// apply each migration once, the second waiting for the first. Throws StorageError if the
/// database is newer than this binary. Returns the version after.
int migrate(Connection& connection);

}  // namespace storage::postgres
