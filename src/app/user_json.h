#pragma once
// The user document of the chapter (GET /users/12) and its validation rules:
//   {"id":12,"firstName":"John","lastName":"Smith",
//    "address":{"streetAddress":"21 2nd Street","city":"New York","state":"NY","postalCode":10021},
//    "phoneNumbers":["212 555-1234","646 555-4567"]}
// Field order on output is exactly this. Unknown fields are rejected at every level.
// GET /users/{id} adds the user's follow counts after phoneNumbers (serialize_user_document):
//   {...,"phoneNumbers":[...],"followers":3,"following":1}
// They are read-only: a replace may send them back (a GET-modify-PUT round trip), as integers of
// at least 0, and they are ignored; a create must not send them (as `id`).

#include <boost/json/value.hpp>
#include <optional>
#include <string>

#include "core/result.h"
#include "storage/follow_store.h"
#include "storage/user_record.h"

namespace ztm::app {

struct UserLimits {
  static constexpr std::size_t kMaxName = 100;  // firstName, lastName (characters)
  static constexpr std::size_t kMaxStreet = 200;
  static constexpr std::size_t kMaxCity = 100;
  static constexpr std::size_t kMaxState = 100;
  static constexpr std::int64_t kMaxPostalCode = 999'999'999;  // ZIP+4 as one integer
  static constexpr std::size_t kMaxPhones = 20;
  static constexpr std::size_t kMaxPhone = 32;
};

// Validates a user document. `id` in the document is read-only: rejected when `path_id` is
// nullopt (create), and must equal *path_id otherwise (replace). phoneNumbers may be omitted
// (no numbers). Errors are Errc::invalid_argument with a message naming the field.
Result<storage::User> user_from_json(const boost::json::value& doc, std::optional<UserId> path_id);

boost::json::object user_to_json(const storage::User& user);
std::string serialize_user(const storage::User& user);
// The body of GET /users/{id}: the user and its follow counts.
std::string serialize_user_document(const storage::User& user, const storage::FollowCounts& counts);

// RFC 7396 JSON merge patch: applies `patch` to `target` in place.
void merge_patch(boost::json::value& target, const boost::json::value& patch);

}  // namespace ztm::app
