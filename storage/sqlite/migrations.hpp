#pragma once

#include <mutex>
#include <span>
#include <string_view>

#include "connection.hpp"

namespace storage::sqlite {

/// The schema's history: migration i (0-based) takes the schema from version i to i + 1. The
/// version is PRAGMA user_version. Append-only: never edit or reorder a shipped migration;
/// see storage/migrations/README.md.
std::span<const std::string_view> migrations();

/// PRAGMA user_version of the database.
int schema_version(Connection& connection);

/// Applies every migration past the database's version, each in its own IMMEDIATE transaction
/// together with the version bump. Throws StorageError if the database is newer than this
/// binary. Returns the version after.
int migrate(Connection& connection, std::mutex& write_mutex);

}  // namespace storage::sqlite
