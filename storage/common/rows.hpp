#pragma once

// Row -> record mapping shared by both back ends: each read_* takes a row of either back end
// (anything with text(i), int64(i) and boolean(i)) whose columns are in the order of that
// record's column list in the back end's store. Readers whose columns differ in type between
// the back ends (hashes are hex TEXT in SQLite and BYTEA in PostgreSQL) stay with their store.

#include <array>
#include <string>
#include <string_view>

#include "list_codec.hpp"
#include "storage/records.hpp"

namespace storage::rows {

/// `state IN ('consented', ...)` over kRunnableTransferStates, for the stores' SQL.
inline std::string runnable_states_sql() {
  std::string sql = "state IN (";
  for (const auto state : kRunnableTransferStates) {
    if (sql.back() != '(') sql += ", ";
    sql += "'";
    sql += state;
    sql += "'";
  }
  return sql + ")";
}


template <class Row>
ServiceRecord read_service(const Row& row) {
  ServiceRecord s;
  s.id = row.text(0);
  s.name = row.text(1);
  s.base_url = row.text(2);
  s.audience = row.text(3);
  s.datasets = decode_list(row.text(4));
  s.authorization = row.text(5);
  s.created_at = row.int64(6);
  return s;
}

template <class Row>
ContractRecord read_contract(const Row& row) {
  ContractRecord c;
  c.id = row.text(0);
  c.resident_id = row.text(1);
  c.service_id = row.text(2);
  c.subject = row.text(3);
  c.status = row.text(4);
  c.since = row.int64(5);
  c.until = row.int64(6);
  c.reason = row.text(7);
  c.transfer_id = row.text(8);
  return c;
}

template <class Row>
TransferRecord read_transfer(const Row& row) {
  TransferRecord t;
  t.id = row.text(0);
  t.resident_id = row.text(1);
  t.client_id = row.text(2);
  t.source_id = row.text(3);
  t.destination_id = row.text(4);
  t.source_subject = row.text(5);
  t.destination_subject = row.text(6);
  t.datasets = decode_list(row.text(7));
  t.delete_at_source = row.boolean(8);
  t.state = row.text(9);
  t.step = row.text(10);
  t.error = row.text(11);
  t.retries = static_cast<int>(row.int64(12));
  t.next_attempt_at = row.int64(13);
  t.lease_owner = row.text(14);
  t.lease_until = row.int64(15);
  t.report = row.text(16);
  t.created_at = row.int64(17);
  t.updated_at = row.int64(18);
  return t;
}

template <class Row>
TransferDatasetRecord read_transfer_dataset(const Row& row) {
  TransferDatasetRecord d;
  d.transfer_id = row.text(0);
  d.dataset = row.text(1);
  d.source_format = row.text(2);
  d.destination_format = row.text(3);
  d.cursor = row.text(4);
  d.exported_all = row.boolean(5);
  d.pages_done = row.int64(6);
  d.items_done = row.int64(7);
  d.bytes_done = row.int64(8);
  d.items_total = row.int64(9);
  d.bytes_total = row.int64(10);
  d.digest = row.text(11);
  d.not_carried = decode_list(row.text(12));
  d.verified = row.boolean(13);
  d.deleted = row.boolean(14);
  d.not_read = decode_list(row.text(15));
  return d;
}

// --- Clients: one list of columns, read and written in one order by both back ends ----------

/// The clients table's columns: client_id first (the key), created_at last (written once).
inline constexpr std::array<std::string_view, 29> kClientColumnNames = {
    "client_id", "client_name", "secret_hash", "token_endpoint_auth_method", "redirect_uris",
    "grant_types", "scope", "jwks", "default_audience", "require_par", "require_dpop",
    "registration_access_token_hash", "post_logout_redirect_uris", "subject_type",
    "backchannel_logout_uri", "backchannel_logout_session_required",
    "require_signed_request_object", "frontchannel_logout_uri",
    "frontchannel_logout_session_required", "token_endpoint_auth_signing_alg",
    "request_object_signing_alg", "userinfo_signed_response_alg", "tls_client_auth_name",
    "tls_client_auth_value", "tls_bound_access_tokens", "id_token_signed_response_alg",
    "introspection_signed_response_alg", "authorization_signed_response_alg", "created_at"};

/// kClientColumnNames as an SQL column list.
inline const std::string& client_columns() {
  static const std::string columns = [] {
    std::string out;
    for (const auto name : kClientColumnNames) {
      if (!out.empty()) out += ", ";
      out += name;
    }
    return out;
  }();
  return columns;
}

/// A new client's INSERT (nothing on a taken client_id), its values as parameters 1 to 23 in
/// kClientColumnNames' order; `mark` is the back end's parameter sign ('?' or '$').
inline std::string client_insert_sql(char mark) {
  std::string sql = "INSERT INTO clients (" + client_columns() + ") VALUES (";
  for (std::size_t i = 1; i <= kClientColumnNames.size(); ++i) {
    if (i > 1) sql += ", ";
    sql += mark + std::to_string(i);
  }
  return sql + ") ON CONFLICT DO NOTHING";
}

/// A client's UPDATE of every column but its key (parameter 1) and created_at, the others as
/// parameters 2 to 22 in kClientColumnNames' order.
inline std::string client_update_sql(char mark) {
  std::string sql = "UPDATE clients SET ";
  for (std::size_t i = 1; i + 1 < kClientColumnNames.size(); ++i) {
    if (i > 1) sql += ", ";
    sql += std::string(kClientColumnNames[i]) + " = " + mark + std::to_string(i + 1);
  }
  return sql + " WHERE client_id = " + mark + "1";
}

/// Calls `write` with the client's values in kClientColumnNames' order but for created_at
/// (lists encoded; the temporaries live until it returns): an update binds them as they are, an
/// insert adds created_at.
template <class Write>
decltype(auto) client_values_but_created_at(const ClientRecord& c, Write&& write) {
  return write(c.client_id, c.client_name, c.secret_hash, c.token_endpoint_auth_method,
               encode_list(c.redirect_uris), encode_list(c.grant_types), c.scope, c.jwks,
               c.default_audience, c.require_par, c.require_dpop,
               c.registration_access_token_hash, encode_list(c.post_logout_redirect_uris),
               c.subject_type, c.backchannel_logout_uri, c.backchannel_logout_session_required,
               c.require_signed_request_object, c.frontchannel_logout_uri,
               c.frontchannel_logout_session_required, c.token_endpoint_auth_signing_alg,
               c.request_object_signing_alg, c.userinfo_signed_response_alg,
               c.tls_client_auth_name, c.tls_client_auth_value, c.tls_bound_access_tokens,
               c.id_token_signed_response_alg, c.introspection_signed_response_alg,
               c.authorization_signed_response_alg);
}

template <class Row>
ClientRecord read_client(const Row& row) {
  ClientRecord c;
  c.client_id = row.text(0);
  c.client_name = row.text(1);
  c.secret_hash = row.text(2);
  c.token_endpoint_auth_method = row.text(3);
  c.redirect_uris = decode_list(row.text(4));
  c.grant_types = decode_list(row.text(5));
  c.scope = row.text(6);
  c.jwks = row.text(7);
  c.default_audience = row.text(8);
  c.require_par = row.boolean(9);
  c.require_dpop = row.boolean(10);
  c.registration_access_token_hash = row.text(11);
  c.post_logout_redirect_uris = decode_list(row.text(12));
  c.subject_type = row.text(13);
  c.backchannel_logout_uri = row.text(14);
  c.backchannel_logout_session_required = row.boolean(15);
  c.require_signed_request_object = row.boolean(16);
  c.frontchannel_logout_uri = row.text(17);
  c.frontchannel_logout_session_required = row.boolean(18);
  c.token_endpoint_auth_signing_alg = row.text(19);
  c.request_object_signing_alg = row.text(20);
  c.userinfo_signed_response_alg = row.text(21);
  c.tls_client_auth_name = row.text(22);
  c.tls_client_auth_value = row.text(23);
  c.tls_bound_access_tokens = row.boolean(24);
  c.id_token_signed_response_alg = row.text(25);
  c.introspection_signed_response_alg = row.text(26);
  c.authorization_signed_response_alg = row.text(27);
  c.created_at = row.int64(28);
  return c;
}

template <class Row>
PendingAuthorization read_pending(const Row& row) {
  PendingAuthorization p;
  p.handle = row.text(0);
  p.client_id = row.text(1);
  p.redirect_uri = row.text(2);
  p.scope = row.text(3);
  p.state = row.text(4);
  p.nonce = row.text(5);
  p.code_challenge = row.text(6);
  p.authorization_details = row.text(7);
  p.resources = decode_list(row.text(8));
  p.prompt = row.text(9);
  p.max_age = row.int64(10);
  p.dpop_jkt = row.text(11);
  p.response_mode = row.text(12);
  p.pushed = row.boolean(13);
  p.expires_at = row.int64(14);
  p.ui_locales = row.text(15);
  p.login_hint = row.text(16);
  p.subject_hint = row.text(17);
  p.redirect_uri_given = row.boolean(18);
  p.id_token_claims = row.text(19);
  return p;
}

template <class Row>
AuthorizationCode read_code(const Row& row) {
  AuthorizationCode c;
  c.code_hash = row.text(0);
  c.client_id = row.text(1);
  c.resident_id = row.text(2);
  c.redirect_uri = row.text(3);
  c.scope = row.text(4);
  c.nonce = row.text(5);
  c.code_challenge = row.text(6);
  c.authorization_details = row.text(7);
  c.resources = decode_list(row.text(8));
  c.dpop_jkt = row.text(9);
  c.grant_id = row.text(10);
  c.auth_time = row.int64(11);
  c.expires_at = row.int64(12);
  c.used = row.boolean(13);
  c.sid = row.text(14);
  c.id_token_claims = row.text(15);
  return c;
}

template <class Row>
AccessTokenRecord read_access_token(const Row& row) {
  AccessTokenRecord t;
  t.jti = row.text(0);
  t.token_hash = row.text(1);
  t.client_id = row.text(2);
  t.resident_id = row.text(3);
  t.scope = row.text(4);
  t.audience = row.text(5);
  t.authorization_details = row.text(6);
  t.cnf_jkt = row.text(7);
  t.code_hash = row.text(8);
  t.family_id = row.text(9);
  t.issued_at = row.int64(10);
  t.expires_at = row.int64(11);
  t.revoked = row.boolean(12);
  t.cnf_x5t = row.text(13);
  return t;
}

template <class Row>
RefreshTokenRecord read_refresh_token(const Row& row) {
  RefreshTokenRecord t;
  t.token_hash = row.text(0);
  t.family_id = row.text(1);
  t.client_id = row.text(2);
  t.resident_id = row.text(3);
  t.scope = row.text(4);
  t.authorization_details = row.text(5);
  t.resources = decode_list(row.text(6));
  t.cnf_jkt = row.text(7);
  t.grant_id = row.text(8);
  t.code_hash = row.text(9);
  t.auth_time = row.int64(10);
  t.issued_at = row.int64(11);
  t.expires_at = row.int64(12);
  t.rotated = row.boolean(13);
  t.revoked = row.boolean(14);
  t.cnf_x5t = row.text(15);
  return t;
}

}  // namespace storage::rows
