// A JSON request body, as the user handlers (api/users_api.cc) read it: parse_json_body with the
// default depth limit, then user_from_json as POST /users (no id) and PUT /users/{id} (the
// path's id) validate it, and, for an object, PATCH's merge patch applied to a stored user as
// UserService::patch does. Every document accepted must serialize to one that reads back equal.

#include <boost/json/parse.hpp>

#include "api/request_parsing.h"
#include "app/user_json.h"
#include "fuzz/fuzz_check.h"

namespace {

using namespace ztm;
namespace json = boost::json;

constexpr int kMaxJsonDepth = 16;  // http.max_json_depth's default
constexpr UserId kPathId = 12;

// The user that PATCH /users/12 finds in storage.
storage::User stored_user() {
  return {.id = kPathId,
          .first_name = "John",
          .last_name = "Smith",
          .address = {.street_address = "21 2nd Street",
                      .city = "New York",
                      .state = "NY",
                      .postal_code = 10021},
          .phone_numbers = {"212 555-1234", "646 555-4567"}};
}

// An accepted user, sent back as GET /users/12 would, reads back as the same user (PUT of what
// GET returned). A rejection must be a validation error, never another kind.
void check(const Result<storage::User>& user, std::optional<UserId> path_id) {
  if (!user) {
    FUZZ_CHECK(user.error().code == Errc::invalid_argument);
    return;
  }
  storage::User sent = *user;
  if (!path_id) {
    FUZZ_CHECK(sent.id == 0);
    sent.id = kPathId;  // as the store assigns one
  }
  FUZZ_CHECK(sent.id == kPathId);
  const auto text = app::serialize_user(sent);
  boost::system::error_code ec;
  const auto again = json::parse(text, ec);
  FUZZ_CHECK(!ec);
  const auto back = app::user_from_json(again, kPathId);
  FUZZ_CHECK(back && *back == sent);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::Request req;
  req.msg.set(http::Field::content_type, "application/merge-patch+json");
  req.msg.body().assign(fuzz::as_text(data, size));
  auto body = api::parse_json_body(req, kMaxJsonDepth);
  if (!body) {
    FUZZ_CHECK(body.error().code == Errc::invalid_json);
    return 0;
  }
  check(app::user_from_json(*body, std::nullopt), std::nullopt);  // POST /users
  check(app::user_from_json(*body, kPathId), kPathId);            // PUT /users/12
  if (body->is_object()) {                                        // PATCH /users/12
    json::value doc = app::user_to_json(stored_user());
    app::merge_patch(doc, *body);
    check(app::user_from_json(doc, kPathId), kPathId);
  }
  return 0;
}
